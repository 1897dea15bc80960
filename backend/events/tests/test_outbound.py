"""Which URLs a webhook may call, checked after DNS resolution; and Standard Webhooks signing."""

import pytest
from standardwebhooks.webhooks import Webhook

from backend.events.outbound import UrlNotAllowed, secret_generate, signed_headers, target_of


@pytest.mark.parametrize(
    "url",
    [
        "ftp://example.com/hook",
        "file:///etc/passwd",
        "gopher://example.com/",
        "http://127.0.0.1/hook",
        "http://localhost:8080/hook",  # resolves to loopback
        "http://0x7f000001/hook",  # 127.0.0.1 spelt in hex
        "http://2130706433/hook",  # 127.0.0.1 as one number
        "http://[::1]/hook",
        "http://[::ffff:127.0.0.1]/hook",  # IPv4-mapped loopback
        "http://169.254.169.254/latest/meta-data/",  # link-local (cloud metadata)
        "http://10.1.2.3/hook",
        "http://172.16.0.1/hook",
        "http://192.168.1.1/hook",
        "http://100.64.0.1/hook",  # carrier-grade NAT
        "http://0.0.0.0/hook",
        "http://224.0.0.1/hook",
        "http://user:secret@example.com/hook",
        "http:///hook",
        "http://no-such-host.invalid/hook",
    ],
)
def test_refused_urls(url, settings):
    settings.WEBHOOK_ALLOWED_NETWORKS = []
    with pytest.raises(UrlNotAllowed) as refused:
        target_of(url)
    assert refused.value.code == "webhook_url_not_allowed"
    assert refused.value.status == 400


def test_loopback_only_when_a_setting_allows_it(settings):
    settings.WEBHOOK_ALLOWED_NETWORKS = ["127.0.0.0/8"]
    target = target_of("http://localhost:8101/hooks?x=1")
    assert (target.scheme, target.host, target.port, target.path, target.address) == (
        "http",
        "localhost",
        8101,
        "/hooks?x=1",
        "127.0.0.1",
    )
    with pytest.raises(UrlNotAllowed):
        target_of("http://10.1.2.3/hook")


def test_host_allow_list(settings):
    settings.WEBHOOK_ALLOWED_NETWORKS = ["127.0.0.0/8"]
    settings.WEBHOOK_ALLOWED_HOSTS = ["*.gov.cn", "localhost"]
    assert target_of("https://localhost/hook").port == 443
    with pytest.raises(UrlNotAllowed) as refused:
        target_of("http://127.0.0.1/hook")
    assert "WEBHOOK_ALLOWED_HOSTS" in refused.value.message


def test_signatures_verify_with_the_standard_library():
    secret = secret_generate()
    assert secret.startswith("whsec_")
    body = '{"id":"e1","type":"survey.signed","data":{"a":"中文"}}'.encode()
    headers = signed_headers(secrets_=[secret], message_id="e1", body=body)
    assert headers["webhook-signature"].startswith("v1,")
    assert Webhook(secret).verify(body, headers)["type"] == "survey.signed"
    other = secret_generate()
    both = signed_headers(secrets_=[other, secret], message_id="e1", body=body)
    assert Webhook(secret).verify(body, both)["id"] == "e1"
    assert Webhook(other).verify(body, both)["id"] == "e1"
