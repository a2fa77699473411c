"""The fake Twilio holds to Twilio: its resources have the fields of Twilio's OpenAPI description
(twilio/twilio-oai ``spec/json/twilio_api_v2010.json``), its callbacks carry the signature the
``twilio`` client's own validator accepts, it refuses wrong credentials, and its phones page shows
what each number received. The real ``twilio`` client talks to it throughout."""
import threading
import time
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs

import pytest
import requests
from gongwen_fake_twilio.signature import twilio_signature
from twilio.base.exceptions import TwilioRestException
from twilio.http.http_client import TwilioHttpClient
from twilio.request_validator import RequestValidator
from twilio.rest import Client

from conftest import wait_until

# The properties of Twilio's schemas api.v2010.account.message / .call and of the list answer.
MESSAGE_FIELDS = {"account_sid", "api_version", "body", "date_created", "date_sent", "date_updated", "direction",
                  "error_code", "error_message", "from", "messaging_service_sid", "num_media", "num_segments", "price",
                  "price_unit", "sid", "status", "subresource_uris", "to", "uri"}
CALL_FIELDS = {"account_sid", "answered_by", "api_version", "caller_name", "date_created", "date_updated",
               "direction", "duration", "end_time", "forwarded_from", "from", "from_formatted", "group_sid",
               "parent_call_sid", "phone_number_sid", "price", "price_unit", "queue_time", "sid", "start_time",
               "status", "subresource_uris", "to", "to_formatted", "trunk_sid", "uri"}
PAGE_FIELDS = {"end", "first_page_uri", "next_page_uri", "page", "page_size", "previous_page_uri", "start", "uri"}


@pytest.fixture
def fake(fake_twilio):
    fake_twilio.reset()
    yield fake_twilio
    fake_twilio.reset()


def client(fake, token=None):
    made = Client(fake.account_sid, token or fake.auth_token, http_client=TwilioHttpClient(timeout=5))
    made.api.base_url = fake.url
    return made


class Receiver:
    """A callback endpoint: what Twilio posted, with the signature header."""

    def __init__(self):
        received = self.received = []

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                received.append((self.path, {k: v[0] for k, v in parse_qs(body.decode()).items()},
                                 self.headers.get("X-Twilio-Signature")))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"


@pytest.fixture
def receiver():
    made = Receiver()
    yield made
    made.server.shutdown()


def test_the_fakes_signature_is_the_one_twilios_validator_computes():
    params = {"MessageSid": "SM" + "a" * 32, "MessageStatus": "delivered", "To": "+8613800138000",
              "Body": "【公文】请签收 & 回复?=", "ErrorCode": "30003"}
    url = "https://gw.example.cn/api/v1/twilio/messages/status?message_id=4f1c"
    assert twilio_signature("s3cret", url, params) == RequestValidator("s3cret").compute_signature(url, params)


def test_the_fakes_callbacks_pass_twilios_validator_and_go_queued_sent_delivered(fake, receiver):
    callback = f"{receiver.url}/status?message_id=m-1"
    message = client(fake).messages.create(to="+8613800138000", from_=fake.sender, body="你好",
                                           status_callback=callback)
    assert message.status == "queued"
    wait_until(lambda: len(receiver.received) == 2, message="two callbacks")
    validator = RequestValidator(fake.auth_token)
    assert [p["MessageStatus"] for _, p, _ in receiver.received] == ["sent", "delivered"]
    for path, params, signature in receiver.received:
        assert path == "/status?message_id=m-1" and validator.validate(callback, params, signature)
        assert not RequestValidator("another token").validate(callback, params, signature)


def test_the_fakes_resources_have_twilios_fields(fake):
    twilio = client(fake)
    created = twilio.http_client  # the last answer's raw JSON, as the client received it
    twilio.messages.create(to="+8613800138000", from_=fake.sender, body="签" * 71)  # UCS-2: two parts of 67
    body = created._test_only_last_response.text
    assert set(requests.models.complexjson.loads(body)) == MESSAGE_FIELDS
    twilio.calls.create(to="+8613800138000", from_=fake.sender, twiml="<Response><Say>x</Say></Response>")
    assert set(requests.models.complexjson.loads(created._test_only_last_response.text)) == CALL_FIELDS
    wait_until(lambda: twilio.messages.list(to="+8613800138000", limit=1)[0].status == "delivered",
               message="delivered")
    page = requests.get(f"{fake.url}/2010-04-01/Accounts/{fake.account_sid}/Messages.json",
                        params={"To": "+8613800138000", "PageSize": 1}, auth=(fake.account_sid, fake.auth_token),
                        timeout=5).json()
    assert set(page) == PAGE_FIELDS | {"messages"} and page["next_page_uri"] is None
    [message] = page["messages"]
    assert (message["num_segments"], message["price"], message["price_unit"]) == ("2", "-0.11700", "USD")


def test_the_fake_lists_by_number_and_date_sent_across_pages(fake):
    twilio = client(fake)
    sids = {twilio.messages.create(to="+8613800138001", from_=fake.sender, body=f"n{n}").sid for n in range(5)}
    wait_until(lambda: all(m.date_sent for m in twilio.messages.list(to="+8613800138001")), message="all sent")
    today = datetime.now(UTC)
    assert {m.sid for m in twilio.messages.list(to="+8613800138001", date_sent_after=today, page_size=2)} == sids
    assert twilio.messages.list(to="+8613800138001", date_sent_after=today + timedelta(days=1)) == []
    assert twilio.messages.list(to="+8613800138009") == []


def test_the_fake_refuses_wrong_credentials_and_bad_numbers_as_twilio_does(fake):
    with pytest.raises(TwilioRestException) as refused:
        client(fake, token="wrong").messages.create(to="+8613800138000", from_=fake.sender, body="x")
    assert (refused.value.status, refused.value.code) == (401, 20003)
    with pytest.raises(TwilioRestException) as refused:
        client(fake).messages.create(to="13800138000", from_=fake.sender, body="x")
    assert (refused.value.status, refused.value.code) == (400, 21211)
    fake.faults(numbers={"+8613800138002": {"error": 21610}})
    with pytest.raises(TwilioRestException) as refused:
        client(fake).messages.create(to="+8613800138002", from_=fake.sender, body="x")
    assert (refused.value.status, refused.value.code) == (400, 21610)
    assert fake.record()["messages"] == []


def test_beyond_the_senders_rate_the_fake_answers_429_with_20429(fake):
    fake.faults(rate=1, burst=2)
    try:
        outcomes = []
        for _ in range(4):
            try:
                client(fake).messages.create(to="+8613800138000", from_=fake.sender, body="x")
                outcomes.append(201)
            except TwilioRestException as refused:
                outcomes.append((refused.status, refused.code))
    finally:
        fake.faults(rate=None, burst=None)
    assert outcomes[:2] == [201, 201] and (429, 20429) in outcomes[2:]


def test_the_phones_page_shows_every_sms_and_call_each_number_received(fake):
    twilio = client(fake)
    twilio.messages.create(to="+8613800138000", from_=fake.sender, body="【公文】特急 <签收>")
    twilio.calls.create(to="+8613800138000", from_=fake.sender,
                        twiml='<Response><Say language="cmn-CN">请立即签收</Say></Response>')
    page = requests.get(f"{fake.url}/phones", timeout=5)
    assert page.status_code == 200 and page.headers["Content-Type"].startswith("text/html")
    assert "+8613800138000" in page.text and "【公文】特急 &lt;签收&gt;" in page.text and "请立即签收" in page.text


def test_callbacks_come_late_lost_or_held_and_released_in_any_order_on_command(fake, receiver):
    twilio = client(fake)
    fake.faults(callbacks={"mode": "delay", "delay": 1.0})
    started = time.monotonic()
    twilio.messages.create(to="+8613800138000", from_=fake.sender, body="late", status_callback=receiver.url + "/a")
    wait_until(lambda: len(receiver.received) == 2, message="the late callbacks")
    assert time.monotonic() - started >= 1.0
    fake.faults(callbacks={"mode": "lose"})
    twilio.messages.create(to="+8613800138000", from_=fake.sender, body="lost", status_callback=receiver.url + "/b")
    wait_until(lambda: [c["outcome"] for c in fake.record()["callbacks"]].count("lost") == 2, message="both lost")
    fake.faults(callbacks={"mode": "hold"})
    twilio.messages.create(to="+8613800138000", from_=fake.sender, body="held", status_callback=receiver.url + "/c")
    wait_until(lambda: fake.record()["held_callbacks"] == 2, message="both held")
    assert fake.release_callbacks(order="reverse") == 2
    assert [p["MessageStatus"] for path, p, _ in receiver.received if path == "/c"] == ["delivered", "sent"]
    assert not [path for path, _, _ in receiver.received if path == "/b"]
