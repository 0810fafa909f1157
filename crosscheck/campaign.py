"""The public name of the campaign API: ``crosscheck.campaign.distribute`` and ``fuzz_campaign``.

The code lives in ``crosscheck.engine.campaign``; this module only re-exports it.
"""
from crosscheck.engine.campaign import *  # noqa: F401,F403
from crosscheck.engine.campaign import distribute, fuzz_campaign  # noqa: F401
