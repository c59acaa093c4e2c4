from actions.bookings import ActionCheckBooking, ActionContinueChange, ActionStartCancel, ActionStartReschedule
from actions.conversation import ActionAnswerQuestion, ActionFallback, ActionHandoff
from antrean.booking.model import BookingStatus
from antrean.handoff.service import open_requests
from tests.actions.conftest import make_tracker
from tests.builders import make_request

NUMBER = "6281234567890"


def slot_values(events):
    return {e["name"]: e["value"] for e in events if e["event"] == "slot"}


def test_check_booking_lists_the_senders_active_bookings(wired, dispatcher):
    service, _ = wired
    booking = service.book(make_request(serial=1, whatsapp_number=NUMBER))
    ActionCheckBooking().run(dispatcher, make_tracker(text="cek antrean", intent="check_booking"), {})
    assert "A-001" in dispatcher.messages[0]["text"] and booking.code in dispatcher.messages[0]["text"]


def test_check_booking_by_code_for_someone_else(wired, dispatcher):
    service, _ = wired
    booking = service.book(make_request(serial=1, whatsapp_number="6285700000001"))
    tracker = make_tracker(text=f"cek antrean ibu saya {booking.code.lower()}", intent="check_booking")
    ActionCheckBooking().run(dispatcher, tracker, {})
    assert booking.code in dispatcher.messages[0]["text"]


def test_check_booking_without_any_says_how_to_register(wired, dispatcher):
    ActionCheckBooking().run(dispatcher, make_tracker(text="cek", intent="check_booking"), {})
    assert "Tidak ada antrean aktif" in dispatcher.messages[0]["text"]


def test_cancel_asks_first_and_frees_the_seat_after_yes(wired, dispatcher):
    service, _ = wired
    booking = service.book(make_request(serial=1, whatsapp_number=NUMBER))
    events = ActionStartCancel().run(dispatcher, make_tracker(text="batalin antrean", intent="cancel_booking"), {})
    assert slot_values(events)["pending_change"] == f"cancel {booking.code}"
    assert service.get_by_code(booking.code).status is BookingStatus.BOOKED
    tracker = make_tracker(slots={"pending_change": f"cancel {booking.code}"}, text="ya", intent="affirm")
    ActionContinueChange().run(dispatcher, tracker, {})
    assert service.get_by_code(booking.code).status is BookingStatus.CANCELLED
    assert "sudah dibatalkan" in dispatcher.messages[-1]["text"]
    assert service.availability("batam")[0].left == 250


def test_cancel_answered_no_keeps_the_booking(wired, dispatcher):
    service, _ = wired
    booking = service.book(make_request(serial=1, whatsapp_number=NUMBER))
    tracker = make_tracker(slots={"pending_change": f"cancel {booking.code}"}, text="ga jadi", intent="deny")
    events = ActionContinueChange().run(dispatcher, tracker, {})
    assert service.get_by_code(booking.code).status is BookingStatus.BOOKED
    assert dispatcher.messages[0]["response"] == "utter_change_cancelled"
    assert slot_values(events)["pending_change"] is None


def test_reschedule_offers_other_days_then_moves_once(wired, dispatcher):
    service, _ = wired
    booking = service.book(make_request(serial=1, whatsapp_number=NUMBER))
    events = ActionStartReschedule().run(dispatcher, make_tracker(text="ubah jadwal", intent="reschedule_booking"), {})
    assert slot_values(events)["pending_change"] == f"reschedule {booking.code}"
    payloads = [b["payload"] for b in dispatcher.messages[0]["buttons"]]
    assert '/inform{"visit_date":"2026-12-02"}' not in payloads  # the booked day itself is not offered
    tracker = make_tracker(slots={"pending_change": f"reschedule {booking.code}", "visit_date": "2026-12-04"},
                           intent="inform")
    ActionContinueChange().run(dispatcher, tracker, {})
    moved = service.get_by_code(booking.code)
    assert str(moved.day) == "2026-12-04" and moved.reschedule_count == 1
    assert "Jumat, 4 Desember 2026" in dispatcher.messages[-2]["text"]
    dispatcher.messages.clear()
    ActionStartReschedule().run(dispatcher, make_tracker(text="ubah jadwal lagi", intent="reschedule_booking"), {})
    assert "satu kali" in dispatcher.messages[0]["text"]


def test_questions_are_answered_from_the_office_settings(wired, dispatcher):
    for intent, expected in [("ask_fee", "Rp350.000"), ("ask_hours", "07.30–10.00 WIB"),
                             ("ask_location", "Batam Centre"), ("priority_service", "lansia"),
                             ("replace_passport", "Surat keterangan hilang"), ("ask_requirements", "Kartu Keluarga")]:
        dispatcher.messages.clear()
        ActionAnswerQuestion().run(dispatcher, make_tracker(intent=intent, metadata={"office_id": "batam"}), {})
        assert expected in dispatcher.messages[0]["text"], intent


def test_the_office_written_to_decides_the_answer(wired, dispatcher):
    tracker = make_tracker(intent="ask_location", metadata={"phone_number_id": "106540352242924"})
    ActionAnswerQuestion().run(dispatcher, tracker, {})
    assert "Bogor" in dispatcher.messages[0]["text"]


def test_handoff_queues_the_conversation_once(wired, dispatcher):
    service, _ = wired
    tracker = make_tracker(text="mau bicara sama petugas", intent="human_handoff", metadata={"office_id": "batam"})
    ActionHandoff().run(dispatcher, tracker, {})
    ActionHandoff().run(dispatcher, tracker, {})
    requests = open_requests(service.engine)
    assert len(requests) == 1 and requests[0]["sender_id"] == NUMBER and requests[0]["office_id"] == "batam"
    assert dispatcher.messages[0]["response"] == "utter_handoff"


def test_the_second_misunderstanding_in_a_row_offers_the_menu(wired, dispatcher):
    fallback = {"event": "user", "parse_data": {"intent": {"name": "nlu_fallback"}}}
    understood = {"event": "user", "parse_data": {"intent": {"name": "greet"}}}
    ActionFallback().run(dispatcher, make_tracker(events=[understood, fallback]), {})
    ActionFallback().run(dispatcher, make_tracker(events=[fallback, fallback]), {})
    assert [m["response"] for m in dispatcher.messages] == ["utter_rephrase", "utter_menu"]


def test_an_unclassified_answer_to_a_form_question_is_left_to_the_form(wired, dispatcher):
    fallback = {"event": "user", "parse_data": {"intent": {"name": "nlu_fallback"}}}
    tracker = make_tracker(text="Sitti Nurhalizah Binti Abdul", intent="nlu_fallback", events=[fallback, fallback],
                           active_loop="registration_form", requested_slot="person_name")
    assert ActionFallback().run(dispatcher, tracker, {}) == []
    assert dispatcher.messages == []


def test_an_answer_the_form_could_not_use_is_explained_and_the_form_asks_again(wired, dispatcher):
    tracker = make_tracker(text="yg itu", intent="inform", active_loop="registration_form",
                           requested_slot="application_type")
    domain = {"responses": {"utter_explain_application_type": [{"text": "…"}]}}
    events = ActionFallback().run(dispatcher, tracker, domain)
    assert events == [{"event": "followup", "timestamp": None, "name": "registration_form"}]
    assert [m["response"] for m in dispatcher.messages] == ["utter_explain_application_type"]


def test_an_unforeseen_turn_outside_the_form_gets_an_answer_and_the_bot_listens(wired, dispatcher):
    events = ActionFallback().run(dispatcher, make_tracker(text="baru", intent="inform"), {})
    assert events == [{"event": "followup", "timestamp": None, "name": "action_listen"}]
    assert [m["response"] for m in dispatcher.messages] == ["utter_rephrase"]


def test_a_code_typed_among_other_words_is_found_and_a_look_alike_is_not(wired):
    from actions.bookings import code_in

    service, _ = wired
    booking = service.book(make_request())
    assert code_in(f"tolong cek antrean {booking.code.replace('-', ' ').lower()} punya ibu saya") == booking.code
    assert code_in("mau perpanjangan paspor") is None
    mistyped = booking.code[:-1] + ("3" if booking.code[-1] == "2" else "2")  # a wrong check character
    assert code_in(f"cek {mistyped}") is None
