"""Fixed, well-known secrets for golden files and tests (never used for a real cluster).

The CA is a throwaway made once for the golden files (tests/golden/test-ca.*).
"""

from __future__ import annotations

from pathlib import Path

from provisioner.secrets import ClusterSecrets

GOLDEN = Path(__file__).resolve().parents[1] / "golden"


def fixed_secrets() -> ClusterSecrets:
    return ClusterSecrets(
        bootstrap_token="abcdef.0123456789abcdef",
        certificate_key="f" * 64,
        vrrp_auth_pass="Vr9pAss1",
        haproxy_stats_password="StatsPassword0123456789x",
        ca_cert_pem=(GOLDEN / "test-ca.crt").read_text(),
        ca_key_pem=(GOLDEN / "test-ca.key").read_text(),
    )
