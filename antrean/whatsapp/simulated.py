"""Simulator numbers: the senders of the staff console's simulator (see antrean.whatsapp.sandbox).

6280000… is in Indonesia's toll-free range (0800), never a mobile number a person writes from, yet
it passes the identity checks so that a registration can be tried to the end. Replies to these
numbers are always recorded in the outbox, never sent, even with a real access token."""

SIMULATOR_PREFIX = "6280000"
SIMULATOR_MEDIA_PREFIX = "sim-"  # media ids of photos uploaded in the simulator (simulator_media)


def is_simulator_number(wa_id: str) -> bool:
    return wa_id.startswith(SIMULATOR_PREFIX)
