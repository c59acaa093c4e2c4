"""Antrean's changes to Rasa itself, installed explicitly, once per process, by one start-up hook.

What is installed (each gives Rasa's own results; tests/channels/test_speedups.py and
tests/in_process compare them): the speed-ups of speedups.py, the in-process action endpoint of
actions_in_process.py, the background loading of a pulled model (model_pulling.py), one turn per
WhatsApp message whichever server feeds it (message_once.py; tests/whatsapp/test_lease_takeover.py),
and a turn that fails, instead of being silently cut short, when a custom action meets an outage
(outage_fails_turn.py; tests/test_outage_mid_turn.py). They replace attributes of Rasa's classes and
read Rasa's private ones, so they are written for one Rasa series: on any other, `install_speedups`
logs one warning and leaves Rasa exactly as it is (slower, `action_endpoint: {actions_module: …}`
unavailable: use an action server, `url:`; a pulled model loads on the event loop). Importing any
Antrean module changes nothing in Rasa.

Where the hook is called, and why there: `AntreanTrackerStore.__init__`. Every Rasa process of ours
creates its tracker store from the endpoints file (`make run`/`serve` write one naming it, as do
endpoints.yml for `rasa shell` and endpoints.production.yml), in Rasa's `load_agent`, which each
Sanic worker runs before it loads the model and takes its first message. The channels are no such
place: `rasa shell` creates none of ours, and the receiver of WhatsApp webhooks must not load Rasa
at all."""

from __future__ import annotations

import logging

logger = logging.getLogger(__name__)

SUPPORTED_SERIES = (3, 6)

_installed = False
_warned = False


def rasa_version() -> str:
    from rasa.version import __version__  # only the version string: nothing of Rasa's machinery

    return __version__


def supported(version: str) -> bool:
    try:
        major, minor = (int(part) for part in version.split(".")[:2])
    except ValueError:
        return False
    return (major, minor) == SUPPORTED_SERIES


def install_speedups() -> bool:
    """Install the speed-ups and the in-process action endpoint, once; True when Rasa runs with them.
    Rasa's version is checked before any of the code that patches it is imported (an import of
    Rasa's internals could itself fail on another version)."""
    global _installed, _warned
    if _installed:
        return True
    version = rasa_version()
    if not supported(version):
        if not _warned:
            _warned = True
            logger.warning("Rasa %s is not the %d.%d series Antrean's speed-ups were written and tested for: Rasa "
                           "runs unpatched (slower; `actions_module:` in endpoints.yml does not work, use an action "
                           "server with `url:`).", version, *SUPPORTED_SERIES)
        return False
    from antrean.assistant import actions_in_process, message_once, model_pulling, outage_fails_turn, speedups

    actions_in_process.install()
    message_once.install()
    outage_fails_turn.install()
    speedups.install()
    model_pulling.install()
    _installed = True
    logger.debug("Rasa %s: Antrean's speed-ups and in-process action endpoint installed", version)
    return True
