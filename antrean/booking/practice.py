"""Practice offices: where staff learn to register (the console's simulator), check in (the door)
and call applicants (the counter) at any hour, without touching a real seat.

Every office `batam` has a practice twin `latihan-batam`: the same counters, sessions, documents and
fees, but registration is always open, every day is a working day, the day booked is today (so the
door and the counter can be tried at once) and check-in works on any day. Its bookings are
ordinary rows of the booking tables under the practice office's id, which real office ids can never
take (they are lowercase words without "-", see offices.py). So they live in their own namespace:
- seats and queue numbers are counted per office id: a practice booking takes a practice seat;
- every real list, count and the dashboard asks for a real office id, and never sees them;
- the one-active-booking-per-NIK index leaves practice bookings out (migration 0011), so a NIK used
  to practise never blocks its owner's real registration, and the NIK check skips them both ways;
- they are deleted a few hours after they were made (`BookingService.purge_practice`, run by the
  console on a timer), with their seats, queue numbers and per-number quota.
Simulator conversations (antrean.whatsapp.simulated) always book here: the WhatsApp channel marks
their messages `practice`, and `offices.office_from_metadata` turns the office into its practice
twin. The ids (`practice_id`, `is_practice`, `real_office_id`) live in offices.py beside that rule."""

from __future__ import annotations

from datetime import date, datetime

from antrean.booking.calendar import OfficeCalendar
from antrean.booking.offices import WEEKDAYS, Office, practice_id


def practice_office(office: Office) -> Office:
    """The practice twin of `office`: open every day with the schedule of a usual working day."""
    usual = next((office.weekly[day] for day in WEEKDAYS if day in office.weekly and office.weekly[day].service),
                 None)
    weekly = {day: office.weekly[day] if day in office.weekly and office.weekly[day].service else usual
              for day in WEEKDAYS} if usual else dict(office.weekly)
    return office.copy(update={
        "id": practice_id(office.id),
        "name": f"{office.name} (LATIHAN)",
        "short_name": f"{office.short_name} (latihan)",
        "weekly": weekly,
        "collective_leave_dates": [],
        "closed_dates": [],
        "whatsapp_phone_number_ids": [],  # nobody can write to a practice office from outside
    })


class PracticeCalendar(OfficeCalendar):
    """Registration always open, no closed days, bookable from today."""

    practice = True

    def closure_reason(self, day: date) -> str | None:
        return None

    def registration_open(self, moment: datetime) -> bool:
        return True

    def bookable_days(self, moment: datetime) -> list[date]:
        # Today only: what is registered in the simulator can be checked in and called right away.
        return [self.today(moment)]
