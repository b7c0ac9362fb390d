"""The judge URL SSRF guard: only public addresses unless an admin allow-lists a host."""

import pytest

from scoring import ssrf
from scoring.ssrf import UnsafeURLError, check_judge_url


def resolver(*addresses):
    return lambda host, port: list(addresses)


@pytest.mark.parametrize("url", [
    "http://127.0.0.1:8000/v1",
    "http://localhost/v1",
    "http://[::1]/v1",
    "http://10.0.0.5/v1",
    "http://172.16.3.4/v1",
    "http://192.168.1.10/v1",
    "http://169.254.169.254/latest/meta-data/",
    "http://[fe80::1]/v1",
    "http://[fd00:ec2::254]/v1",
    "http://[::ffff:127.0.0.1]/v1",
    "http://[::ffff:a9fe:a9fe]/v1",
    "http://[64:ff9b::a9fe:a9fe]/v1",
    "http://[2002:7f00:1::]/v1",
    "http://100.100.100.200/v1",
    "http://0.0.0.0/v1",
    "http://[::]/v1",
    "http://224.0.0.1/v1",
    "http://[ff02::1]/v1",
    "http://240.0.0.1/v1",
    "http://2130706433/v1",
    "http://0x7f.0.0.1/v1",
    "http://metadata.google.internal/computeMetadata/v1/",
])
def test_internal_addresses_are_refused(url):
    with pytest.raises(UnsafeURLError):
        check_judge_url(url, allowed_hosts=[])


def test_a_public_address_is_allowed():
    checked = check_judge_url("https://judge.example.com/v1", allowed_hosts=[], resolve=resolver("93.184.216.34"))
    assert checked.addresses == ("93.184.216.34",) and checked.port == 443


def test_a_host_resolving_to_any_private_address_is_refused():
    with pytest.raises(UnsafeURLError, match="10.0.0.1"):
        check_judge_url("https://judge.example.com/v1", allowed_hosts=[],
                        resolve=resolver("93.184.216.34", "10.0.0.1"))


def test_a_host_resolving_to_an_ipv4_mapped_loopback_is_refused():
    with pytest.raises(UnsafeURLError):
        check_judge_url("https://judge.example.com/v1", allowed_hosts=[], resolve=resolver("::ffff:127.0.0.1"))


def test_the_allow_list_admits_a_named_host_an_address_or_a_network():
    check_judge_url("http://vllm.internal:8000/v1", allowed_hosts=["vllm.internal"], resolve=resolver("10.1.2.3"))
    check_judge_url("http://127.0.0.1:8000/v1", allowed_hosts=["127.0.0.1"])
    check_judge_url("http://gpu-box/v1", allowed_hosts=["10.0.0.0/8"], resolve=resolver("10.9.8.7"))
    with pytest.raises(UnsafeURLError):
        check_judge_url("http://gpu-box/v1", allowed_hosts=["10.0.0.0/8"], resolve=resolver("192.168.0.2"))


def test_the_allow_list_comes_from_the_setting(settings):
    settings.SCORING_JUDGE_ALLOWED_HOSTS = "127.0.0.1, 10.0.0.0/8"
    check_judge_url("http://127.0.0.1:9/v1")
    settings.SCORING_JUDGE_ALLOWED_HOSTS = ""
    with pytest.raises(UnsafeURLError):
        check_judge_url("http://127.0.0.1:9/v1")


@pytest.mark.parametrize("url, reason", [
    ("ftp://judge.example.com/", "http"),
    ("file:///etc/passwd", "http"),
    ("gopher://127.0.0.1:6379/_FLUSHALL", "http"),
    ("http://user:secret@judge.example.com/v1", "environment variable"),
    ("http:///v1", "no host"),
    ("https://judge.example.com/v1?redirect=http://10.0.0.1", "query"),
])
def test_malformed_or_dangerous_urls_are_refused(url, reason):
    with pytest.raises(UnsafeURLError, match=reason):
        check_judge_url(url, allowed_hosts=[], resolve=resolver("93.184.216.34"))


def test_requests_are_pinned_to_the_checked_address():
    checked = check_judge_url("https://judge.example.com:8443/v1", allowed_hosts=[],
                              resolve=resolver("93.184.216.34"))
    url, headers, extensions = checked.pinned_url("/chat/completions")
    assert url == "https://93.184.216.34:8443/v1/chat/completions"
    assert headers == {"Host": "judge.example.com:8443"}
    assert extensions == {"sni_hostname": "judge.example.com"}


def test_a_dns_answer_that_changes_to_a_private_address_is_caught_before_the_request(monkeypatch, settings):
    """DNS rebinding: the URL is checked again before every request, not only when saved."""
    from scoring.backends import ScorerSpec, build_backend
    from scoring.backends.base import CriterionSpec, ScoreInput, ScoringContext

    settings.SCORING_JUDGE_ALLOWED_HOSTS = ""
    answers = iter([["93.184.216.34"], ["127.0.0.1"], ["127.0.0.1"], ["127.0.0.1"]])
    monkeypatch.setattr(ssrf, "_resolve", lambda host, port: next(answers))
    backend = build_backend(ScorerSpec(id=1, name="j", backend="openai_judge", model="m",
                                       options={"base_url": "https://rebind.example/v1", "max_retries": 0}))
    with pytest.raises(UnsafeURLError):
        backend.score([ScoreInput(response_id=1, item_id=1, prompt=[{"role": "user", "content": "hi"}],
                                  response="hello")],
                      ScoringContext(criteria=[CriterionSpec(id=1, key="k", title="t")]))
