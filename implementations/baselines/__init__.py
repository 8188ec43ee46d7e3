"""Baselines for ``ioconform bench``: what a Python programmer would reach for instead of
writing an event loop by hand.  Not reference servers of any model: ``bundled()`` does not
list them, and the contract does not judge them."""
