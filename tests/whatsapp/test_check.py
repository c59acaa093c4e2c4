"""`python -m antrean whatsapp check` against the Graph API stand-in (Meta's documented account
endpoints) and a real webhook receiver served over HTTPS: a healthy account checks out, and each
thing an operator gets wrong when going live is named, in plain words, with what to do."""

from __future__ import annotations

import asyncio
import io
import shutil
import ssl
import subprocess

import httpx
import pytest

from antrean.assistant.whatsapp_channel import WhatsAppInput
from antrean.booking.offices import load_offices
from antrean.cli import main
from antrean.runtime.settings import Settings, WhatsAppSettings
from antrean.whatsapp.check import Level, check
from tests.conftest import absent
from tests.whatsapp.meta import APP_SECRET, VERIFY_TOKEN
from tests.whatsapp.server import served
from tests.whatsapp.standin import Account, GraphStandIn, template

pytestmark = pytest.mark.integration

OFFICE_NUMBERS = {"106540352242922": ("+62 778-123-4501", "Kantor Imigrasi Batam"),
                  "106540352242923": ("+62 21-123-4502", "Kantor Imigrasi Jakarta Pusat"),
                  "106540352242924": ("+62 251-123-4503", "Kantor Imigrasi Bogor"),
                  "106540352242925": ("+62 21-123-4504", "Kantor Imigrasi Tangerang")}


@pytest.fixture(scope="module")
def certificate(tmp_path_factory):
    if shutil.which("openssl") is None:
        absent("openssl is absent (apt-get install -y openssl)")
    folder = tmp_path_factory.mktemp("webhook-tls")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                    "-keyout", str(folder / "key.pem"), "-out", str(folder / "cert.pem"), "-subj", "/CN=127.0.0.1",
                    "-addext", "subjectAltName=IP:127.0.0.1"], check=True, capture_output=True)
    return folder / "cert.pem", folder / "key.pem"


@pytest.fixture(scope="module")
def webhook(certificate, tmp_path_factory):
    """Antrean's own webhook route, over HTTPS (Meta calls nothing else)."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(*map(str, certificate))
    folder = tmp_path_factory.mktemp("receiver")
    channel = WhatsAppInput(WhatsAppSettings(verify_token=VERIFY_TOKEN, app_secret=APP_SECRET),
                            environ={"ANTREAN_DATABASE_URL": f"sqlite:///{folder / 'wa.sqlite3'}",
                                     "ANTREAN_MEDIA_DIR": str(folder / "media")})

    async def ignore(_message):
        return None

    with served(channel, ignore, ssl=context) as base:
        yield f"{base}/webhook"


@pytest.fixture(scope="module")
def standin():
    graph = GraphStandIn().start()
    yield graph
    graph.stop()


@pytest.fixture
def graph(standin, webhook):
    """A healthy account: every office number connected, the app subscribed, the webhook set, the
    reminder template approved; plus a number of the account no office claims."""
    standin.account = Account(app_secret=APP_SECRET, callback_url=webhook,
                              templates=[template("pengingat_antrean")])
    for number_id, (display, name) in OFFICE_NUMBERS.items():
        standin.account.add_number(number_id, display, name)
    standin.account.add_number("106540352249999", "+62 811-000-9999", "Kantor Imigrasi Uji")
    return standin


def environment(graph, webhook, **changes) -> dict[str, str]:
    env = {"ANTREAN_WA_ACCESS_TOKEN": graph.token, "ANTREAN_WA_APP_SECRET": APP_SECRET,
           "ANTREAN_WA_VERIFY_TOKEN": VERIFY_TOKEN, "ANTREAN_WA_GRAPH_URL": graph.url,
           "ANTREAN_WA_GRAPH_VERSION": graph.version, "ANTREAN_WA_WEBHOOK_URL": webhook, **changes}
    return {name: value for name, value in env.items() if value is not None}


def run_check(certificate, env: dict[str, str]):
    async def go():
        async with httpx.AsyncClient(timeout=15, verify=ssl.create_default_context(cafile=str(certificate[0]))) as http:
            return await check(Settings.from_env(env), load_offices(), http)

    report = asyncio.run(go())
    return report, {(f.level, f.subject): f.text for f in report.findings}


def test_a_healthy_account_checks_out_on_the_command_line(graph, webhook, certificate, monkeypatch, capsys):
    for name, value in environment(graph, webhook).items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("SSL_CERT_FILE", str(certificate[0]))  # the webhook's certificate, as a real CA's would be
    assert main(["whatsapp", "check"]) == 0
    out = capsys.readouterr().out
    lines = out.strip().splitlines()
    assert lines[-1] == "WhatsApp is connected."
    assert "     ok  number 106540352242922 (Batam): +62 778-123-4501 “Kantor Imigrasi Batam”, connected to the " \
           "Cloud API, quality GREEN." in lines
    assert f"     ok  webhook: Meta calls {webhook} with messages." in lines
    assert f"     ok  webhook: {webhook} answers Meta's verification with this verify token." in lines
    assert "     ok  template pengingat_antrean (id): approved, Utility, 6 body parameters." in lines
    assert any(line.startswith("warning  office denpasar: no WhatsApp phone number id") for line in lines)
    assert any(line.startswith("warning  number 106540352249999: +62 811-000-9999") for line in lines)
    assert "PROBLEM" not in out
    assert graph.token not in out and APP_SECRET not in out and VERIFY_TOKEN not in out  # no secret printed


def break_token(account):
    account.token_valid = False


def drop_messaging(account):
    account.scopes = ["whatsapp_business_management"]


def on_premise(account):
    account.numbers["106540352242923"].platform_type = "ON_PREMISE"


def disconnected(account):
    account.numbers["106540352242924"].status = "DISCONNECTED"


def unsubscribe(account):
    account.app_subscribed_to_waba = False


def no_webhook(account):
    account.callback_url = None


def old_webhook(account):
    account.callback_url = "https://lama.example.go.id/webhooks/whatsapp/webhook"


def without_messages(account):
    account.callback_fields = ["message_template_status_update"]


def no_template(account):
    account.templates = []


def pending_template(account):
    account.templates = [template("pengingat_antrean", status="PENDING")]


def five_parameters(account):
    account.templates = [template("pengingat_antrean", body="Halo {{1}}, besok {{2}} sesi {{3}} nomor {{4}} "
                                                            "di {{5}}.")]


def wrong_language(account):
    account.templates = [template("pengingat_antrean", language="en")]


@pytest.mark.parametrize(("breaks", "env", "subject", "says"), [
    (break_token, {}, "access token", "Meta does not accept ANTREAN_WA_ACCESS_TOKEN (expired, revoked or mistyped; "
                                      "error 190)"),
    (drop_messaging, {}, "access token", "the token may not send messages (no whatsapp_business_messaging"),
    (None, {"ANTREAN_WA_ACCESS_TOKEN": "another-token-0123"}, "access token", "Meta does not accept"),
    (on_premise, {}, "number 106540352242923 (Jakarta Pusat)", "is not registered for the Cloud API (platform "
                                                               "ON_PREMISE)"),
    (disconnected, {}, "number 106540352242924 (Bogor)", "is DISCONNECTED, not CONNECTED"),
    (lambda a: a.numbers.pop("106540352242925"), {}, "number 106540352242925 (Tangerang)",
     "Meta knows no such phone number id for this token (error 100)"),
    (unsubscribe, {}, "account 102290129340398", "is not subscribed to this WhatsApp Business Account, so Meta "
                                                 "sends its messages nowhere"),
    (None, {"ANTREAN_WA_APP_SECRET": "not-the-app-secret"}, "app secret", "Meta refuses ANTREAN_WA_APP_SECRET"),
    (no_webhook, {}, "webhook", "the app has no webhook for WhatsApp"),
    (old_webhook, {}, "webhook", "Meta calls https://lama.example.go.id/webhooks/whatsapp/webhook, but this "
                                 "installation's webhook is"),
    (without_messages, {}, "webhook", "but not for the messages field"),
    (None, {"ANTREAN_WA_VERIFY_TOKEN": "another-verify-token"}, "webhook", "refuses the verify token"),
    (no_template, {}, "template pengingat_antrean (id)", "not found: submit the reminder template (category "
                                                         "Utility, 6 body parameters)"),
    (wrong_language, {}, "template pengingat_antrean (id)", "not found"),
    (pending_template, {}, "template pengingat_antrean (id)", "status PENDING: only an approved template"),
    (five_parameters, {}, "template pengingat_antrean (id)", "its body has 5 parameter(s) but "
                                                             "ANTREAN_WA_REMINDER_PARAMETERS names 6"),
    (None, {"ANTREAN_WA_WEBHOOK_URL": None, "ANTREAN_PUBLIC_URL": "http://antrean.example.go.id"}, "settings",
     "the webhook address http://antrean.example.go.id/webhooks/whatsapp/webhook is not https://"),
    (None, {"ANTREAN_WA_WEBHOOK_URL": "https://127.0.0.1:9/webhooks/whatsapp/webhook"}, "webhook",
     "cannot be reached from here"),
])
def test_each_thing_gotten_wrong_is_named_with_what_to_do(graph, webhook, certificate, breaks, env, subject, says):
    if breaks is not None:
        breaks(graph.account)
    report, findings = run_check(certificate, environment(graph, webhook, **env))
    problems = {s: text for (level, s), text in findings.items() if level is Level.PROBLEM}
    assert subject in problems, report.text()
    assert says in problems[subject], problems[subject]


def test_an_expiring_token_is_a_warning_not_a_problem(graph, webhook, certificate):
    graph.account.token_expires_at = 1_798_761_600  # 2027-01-01
    report, findings = run_check(certificate, environment(graph, webhook))
    assert not report.problems, report.text()
    assert "it expires on 2027-01-01 00:00 UTC" in findings[(Level.WARNING, "access token")]


def test_without_an_access_token_it_says_sandbox_mode_and_how_to_go_live(graph, webhook, certificate, monkeypatch,
                                                                        capsys):
    requests = graph.requests
    report, findings = run_check(certificate, environment(graph, webhook, ANTREAN_WA_ACCESS_TOKEN=None))
    assert [f.subject for f in report.findings] == ["mode"]
    assert "sandbox mode: replies are recorded in the database, nothing is sent" in findings[(Level.PROBLEM, "mode")]
    assert graph.requests == requests  # nothing asked of Meta
    monkeypatch.delenv("ANTREAN_WA_ACCESS_TOKEN", raising=False)
    monkeypatch.setattr("sys.stdin", io.StringIO(""))
    assert main(["whatsapp", "check"]) == 1  # not connected: a failure for scripts
    assert "1 problem(s): WhatsApp is not fully connected" in capsys.readouterr().out
