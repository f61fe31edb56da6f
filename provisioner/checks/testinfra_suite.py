"""The preflight checks as plain pytest-testinfra tests, for operators who run testinfra themselves.

    PROVISIONER_INVENTORY=inventories/seed-ha.yaml \\
      pytest --hosts='ssh://ops@10.0.0.101,ssh://ops@10.0.0.104' \\
             --pyargs provisioner.checks.testinfra_suite -v

Each host given to ``--hosts`` is matched to the inventory by address or
hostname; every per-node check becomes one test (skipped where it does not
apply). Set ``PROVISIONER_STRICT=1`` to fail also on what ``up`` would fix.
Cross-node checks need all hosts at once: use ``provisioner preflight`` for those.
"""

from __future__ import annotations

import os

import pytest

from provisioner.checks import NODE_CHECKS
from provisioner.checks.base import FAIL, SKIP, Node
from provisioner.gate import settle
from provisioner.preflight import gather_facts
from provisioner.validation import load_inventory


@pytest.fixture(scope="module")
def inventory():
    path = os.environ.get("PROVISIONER_INVENTORY")
    if not path:
        pytest.fail("set PROVISIONER_INVENTORY to the inventory file", pytrace=False)
    return load_inventory(path)


@pytest.fixture(scope="module")
def node(host, inventory) -> Node:
    name = host.backend.get_hostname()
    match = [h for h in inventory.hosts if name in (str(h.address), h.hostname, inventory.fqdn(h.hostname))]
    if not match:
        pytest.fail(f"{name} is not a host of the inventory", pytrace=False)
    facts, _ = gather_facts(host, inventory, match[0])
    return Node(match[0], inventory, facts)


@pytest.mark.parametrize("check", NODE_CHECKS, ids=[c.id for c in NODE_CHECKS])
def test_preflight(node, check):
    if not check.applies(node):
        pytest.skip(f"{check.id} does not apply to {node.name}")
    verdict = settle(check, check.evaluate(node.facts, node), node, os.environ.get("PROVISIONER_STRICT") == "1")
    if verdict.status == SKIP:
        pytest.skip(verdict.observed)
    assert verdict.status != FAIL, f"{node.name}: {check.id}: {verdict.observed} (expected {verdict.expected}) - {verdict.fix}"
