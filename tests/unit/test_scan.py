"""agents/scan.py: trivy secret scans, argv and report parsing."""

from __future__ import annotations

import json

import pytest

from agents import scan
from agents.errors import AgentsError

# Trimmed from `trivy image --scanners secret --format json` output (schema version 2).
TRIVY_REPORT = {
    "SchemaVersion": 2,
    "ArtifactName": "sha256:4f1e",
    "ArtifactType": "container_image",
    "Results": [
        {"Target": "OS Packages", "Class": "os-pkgs", "Type": "debian"},
        {
            "Target": "/root/.aws/credentials",
            "Class": "secret",
            "Secrets": [
                {
                    "RuleID": "aws-access-key-id",
                    "Category": "AWS",
                    "Severity": "CRITICAL",
                    "Title": "AWS Access Key ID",
                    "StartLine": 2,
                    "EndLine": 2,
                    "Match": "aws_access_key_id = ********************",
                },
                {
                    "RuleID": "aws-secret-access-key",
                    "Category": "AWS",
                    "Severity": "CRITICAL",
                    "Title": "AWS Secret Access Key",
                    "StartLine": 3,
                    "EndLine": 3,
                },
            ],
        },
        {
            "Target": "/home/agent/.ssh/id_ed25519",
            "Class": "secret",
            "Secrets": [
                {"RuleID": "private-key", "Severity": "HIGH", "Title": "Asymmetric Private Key", "StartLine": 1}
            ],
        },
    ],
}


def test_parse_report_finds_every_secret():
    findings = scan.parse_report(TRIVY_REPORT)

    assert findings == [
        scan.Finding("/root/.aws/credentials", "aws-access-key-id", "AWS Access Key ID", "CRITICAL", 2),
        scan.Finding("/root/.aws/credentials", "aws-secret-access-key", "AWS Secret Access Key", "CRITICAL", 3),
        scan.Finding("/home/agent/.ssh/id_ed25519", "private-key", "Asymmetric Private Key", "HIGH", 1),
    ]


def test_parse_report_fills_missing_fields():
    findings = scan.parse_report({"Results": [{"Secrets": [{}]}]})

    assert findings == [scan.Finding("?", "?", "secret", "UNKNOWN", 0)]


@pytest.mark.parametrize(
    "report",
    [None, {}, {"Results": None}, {"Results": []}, {"Results": [{"Target": "x", "Secrets": None}]}],
    ids=["none", "empty", "results-null", "results-empty", "secrets-null"],
)
def test_parse_report_clean_reports_have_no_findings(report):
    assert scan.parse_report(report) == []


def test_finding_describe_names_rule_and_location():
    finding = scan.Finding("/etc/key", "private-key", "Asymmetric Private Key", "HIGH", 7)

    assert finding.describe() == "Asymmetric Private Key (private-key, HIGH) in /etc/key:7"


def test_scan_argv_is_offline_secret_scan():
    argv = scan.scan_argv("/opt/trivy", "coding-agents-base:0.1.0")

    assert argv[:2] == ["/opt/trivy", "image"]
    assert argv[argv.index("--scanners") + 1] == "secret"
    assert "--offline-scan" in argv
    assert "--skip-db-update" in argv
    assert argv[argv.index("--format") + 1] == "json"
    assert argv[argv.index("--exit-code") + 1] == "0"
    assert argv[-1] == "coding-agents-base:0.1.0"


def test_scan_image_without_trivy_raises_with_pip_hint(fake_which):
    fake_which()  # nothing on PATH

    with pytest.raises(AgentsError) as caught:
        scan.scan_image("coding-agents-base:0.1.0")

    assert "trivy is not installed" in caught.value.message
    assert "pip install" in caught.value.hint


def test_scan_image_parses_trivy_output(fp, fake_which):
    fake_which("trivy")
    fp.register(scan.scan_argv("/usr/bin/trivy", "img:1"), stdout=json.dumps(TRIVY_REPORT))

    findings = scan.scan_image("img:1")

    assert [finding.rule for finding in findings] == ["aws-access-key-id", "aws-secret-access-key", "private-key"]


def test_scan_image_trivy_failure_is_agents_error(fp):
    fp.register(scan.scan_argv("/opt/trivy", "img:1"), returncode=1, stderr="FATAL unable to inspect the image")

    with pytest.raises(AgentsError) as caught:
        scan.scan_image("img:1", "/opt/trivy")

    assert caught.value.message.endswith("FATAL unable to inspect the image")
    assert "coding-agents doctor" in caught.value.hint
