"""The decisions of `up`'s steps, facts in / change out (no host): what differs gets changed, nothing else."""

from __future__ import annotations

import dataclasses
import hashlib
from pathlib import Path

import pytest

from provisioner.checks.base import Fact
from provisioner.engine import UpOptions, inputs_hash, select_phases
from provisioner.errors import UsageError
from provisioner.phases import PHASE_NAMES, PHASES
from provisioner.phases.material import go_seconds
from provisioner.checks.kernel import module_present
from provisioner.filestep import _merge_block
from provisioner.steps import CommandStep, FileStep, PackagesStep, ServiceStep

BLOCK = "# BEGIN provisioner cluster lab (managed)\n10.0.0.1 a\n# END provisioner cluster lab\n"


def test_phases_in_the_runbook_order():
    assert PHASE_NAMES == ["prep", "lb", "runtime", "kube-packages", "init", "cni", "join-control-planes",
                           "join-workers", "verify"]
    assert [p.name for p in PHASES if p.serial] == ["join-control-planes"]
    assert [p.name for p in PHASES if not p.journaled] == ["verify"]


def test_select_phases():
    assert [p.name for p in select_phases(UpOptions(only="lb"))] == ["lb"]
    assert [p.name for p in select_phases(UpOptions(start="cni"))][:2] == ["cni", "join-control-planes"]
    with pytest.raises(UsageError, match="unknown phase 'lbs' - choose from prep, lb"):
        select_phases(UpOptions(only="lbs"))
    with pytest.raises(UsageError):
        select_phases(UpOptions(only="lb", start="prep"))


def test_merge_block_replaces_only_ours():
    current = "127.0.0.1 localhost\n# BEGIN provisioner cluster lab (managed)\n10.0.0.9 old\n# END provisioner cluster lab\n::1 x\n"
    merged = _merge_block(current, BLOCK)
    assert merged == "127.0.0.1 localhost\n# BEGIN provisioner cluster lab (managed)\n10.0.0.1 a\n" \
                     "# END provisioner cluster lab\n::1 x\n"
    assert _merge_block(merged, BLOCK) == merged
    assert _merge_block("127.0.0.1 localhost\n", BLOCK).endswith("\n\n" + BLOCK)


def _file_fact(content: str, meta: str = "644 root root") -> Fact:
    return Fact(f"{meta}\n{hashlib.sha256(content.encode()).hexdigest()}  -", 0)     # `sha256sum < FILE`


def test_file_step_changes_only_what_differs():
    step = FileStep("/etc/x.conf", "a=1\n")
    assert step.change(_file_fact("a=1\n"), set()) is None
    assert step.change(_file_fact("a=2\n"), set()).step == "update /etc/x.conf"
    assert step.change(Fact("absent", 0), set()).step == "create /etc/x.conf"
    assert "fix owner/mode" in step.change(_file_fact("a=1\n", "666 root root"), set()).step


def test_file_step_block_and_masked_diff():
    step = FileStep("/etc/hosts", BLOCK, block=True)
    current = "127.0.0.1 localhost\n"
    fact = Fact(f"644 root root\n@@CONTENT\n{current}", 0)
    assert step.change(fact, set()) is not None
    merged = _merge_block(current, BLOCK)
    assert step.change(Fact(f"644 root root\n@@CONTENT\n{merged}", 0), set()) is None
    secret = FileStep("/etc/k.conf", "pass=hunter2\n", secret=True)
    mask = lambda s: s.replace("hunter2", "<redacted>").replace("old", "<redacted>")  # noqa: E731
    diff = secret.diff("pass=old\nport=1\n", None, mask)
    assert "hunter2" not in diff and "+pass=<redacted>" not in diff and "-port=1" in diff
    only_secret = secret.diff("pass=old\n", None, mask)
    assert "hunter2" not in only_secret and "secret values differ (masked)" in only_secret


def test_command_step_guarded_and_notified():
    step = CommandStep("apply sysctls", "check", "sysctl -p f", when_notified="sysctl")
    assert step.change(Fact("", 0), set()) is None
    assert step.change(Fact("", 1), set()).commands == ["sysctl -p f"]
    assert step.change(Fact("", 0), {"sysctl"}) is not None
    reload_only = CommandStep("daemon-reload", None, "systemctl daemon-reload", when_notified="units")
    assert reload_only.change(None, set()) is None and reload_only.change(None, {"units"}) is not None


@pytest.mark.parametrize("state,notified,expected", [
    ("enabled active", set(), None),
    ("enabled active", {"haproxy"}, ["systemctl reload-or-restart haproxy"]),
    ("disabled active", set(), ["systemctl enable haproxy"]),
    ("enabled failed", set(), ["systemctl restart haproxy"]),
    ("enabled inactive", {"haproxy"}, ["systemctl restart haproxy"]),
])
def test_service_step(state, notified, expected):
    enabled, active = state.split()
    shown = Fact(f"ActiveState={active}\nUnitFileState={enabled}\n", 0)     # what `systemctl show -p ...` prints
    change = ServiceStep("haproxy", restart_on=("haproxy",), reload=True).change(shown, notified)
    assert (change.commands if change else None) == expected


def test_service_enabled_not_started():
    step = ServiceStep("kubelet", started=False)
    assert step.change(Fact("ActiveState=activating\nUnitFileState=enabled\n", 0), set()) is None
    assert step.change(Fact("ActiveState=inactive\nUnitFileState=disabled\n", 0), set()).commands == \
        ["systemctl enable kubelet"]


def test_packages_step_versions_and_holds():
    step = PackagesStep({"kubeadm": "1.37.1", "kubelet": "1.37.1"}, hold=True)
    good = Fact("kubeadm 1.37.1-1.1 hi \nkubelet 1.37.1-1.1 hi \n", 0)
    assert step.change(good, set()) is None
    old = Fact("kubeadm 1.37.0-1.1 hi \nkubelet 1.37.1-1.1 ii \n", 0)      # kubelet installed, not held
    change = step.change(old, set())
    assert change.step == "install kubeadm" and "apt-mark hold kubeadm kubelet" in change.commands
    removed = Fact("kubeadm 1.37.1-1.1 rc \n", 0)     # config-files only: not installed
    assert "kubelet" in step.change(removed, set()).step


def test_inputs_hash_follows_step_identity():
    phase = PHASES[0]
    a = [FileStep("/etc/a", "1"), CommandStep("x", "true", "echo")]
    b = [FileStep("/etc/a", "2"), CommandStep("x", "true", "echo")]
    assert inputs_hash(phase, a) == inputs_hash(phase, list(a))
    assert inputs_hash(phase, a) != inputs_hash(phase, b)


def test_go_durations_and_module_probes():
    assert go_seconds("24h0m0s") == 86400 and go_seconds("2h30m") == 9000 and go_seconds("0s") == 0
    assert "proc/filesystems" in module_present("overlay")
    assert module_present("nf_conntrack") == "[ -d /sys/module/nf_conntrack ]"


# --------------------------------------------------------------------------- issue 10: exact versions, secrets, waits

@pytest.mark.parametrize("installed, wanted, matches", [
    ("1.31.1-1.1", "1.31.1", True),
    ("1.31.10-1.1", "1.31.1", False),          # a prefix is not the version
    ("0.3.14.3-0.debian-bookworm", "0.3.1", False),
    ("0.3.14.3-0.debian-bookworm", "0.3.14", True),
    ("5:29.1.2-1~debian.12~bookworm", "29.1.2", True),   # Docker's epoch
    ("5:29.1.20-1~debian.12~bookworm", "29.1.2", False),
    ("1.37.1", "1.37.1", True),
])
def test_pinned_versions_match_exactly(installed, wanted, matches):
    from provisioner.steps import version_matches
    assert version_matches(installed, wanted) is matches
    step = PackagesStep({"kubeadm": wanted}, hold=True)
    fact = Fact(f"kubeadm {installed} hi \n", 0)
    assert (step.change(fact, set()) is None) is matches


def test_apt_version_resolution_is_exact():
    """The shell side (apt-cache madison | awk) picks the same version as version_matches."""
    import subprocess
    from provisioner.packagestep import AWK_VERSION_MATCH
    madison = (" kubeadm | 1.31.10-1.1 | https://pkgs.k8s.io/core:/stable:/v1.31/deb  Packages\n"
               " kubeadm | 1.31.1-1.1 | https://pkgs.k8s.io/core:/stable:/v1.31/deb  Packages\n"
               "docker-ce | 5:29.1.2-1~debian.12~bookworm | https://download.docker.com/linux/debian bookworm/stable\n")
    def pick(want):     # apt-cache madison prints "name | version | source": the version is awk's $3
        return subprocess.run(["awk", "-v", f"want={want}", AWK_VERSION_MATCH],
                              input=madison, capture_output=True, text=True).stdout.strip()
    assert pick("1.31.1") == "1.31.1-1.1"
    assert pick("29.1.2") == "5:29.1.2-1~debian.12~bookworm"
    assert pick("1.31.2") == ""


def test_plan_diff_masks_an_old_secret_already_on_the_host():
    """keepalived.conf on the host holds an OLD password that no redactor knows: it never shows."""
    ours = "vrrp_instance VI_1 {\n    authentication {\n        auth_type PASS\n        auth_pass N3wPass1\n    }\n" \
           "    virtual_router_id 66\n}\n"
    host = ours.replace("N3wPass1", "0ldPass9").replace("66", "67")
    step = FileStep("/etc/keepalived/keepalived.conf", ours, mode=0o600, secret=True)
    diff = step.diff(host, None, lambda t: t.replace("N3wPass1", "<redacted>"))
    assert "0ldPass9" not in diff and "N3wPass1" not in diff
    assert "-    virtual_router_id 67" in diff and "+    virtual_router_id 66" in diff
    only_secret = step.diff(ours.replace("N3wPass1", "0ldPass9"), None, lambda t: t.replace("N3wPass1", "<redacted>"))
    assert "0ldPass9" not in only_secret and "secret values differ" in only_secret
    haproxy = FileStep("/etc/haproxy/haproxy.cfg", "listen stats\n    stats auth admin:S3cret\n", secret=True)
    diff = haproxy.diff("listen stats\n    stats auth root:Old\n", None, lambda t: t.replace("S3cret", "<redacted>"))
    assert "Old" not in diff and "root" not in diff


def test_wait_step_is_not_run_when_its_condition_already_holds():
    from provisioner.steps import WaitStep
    wait = WaitStep("API healthy", "curl -fsS https://x/healthz")
    assert wait.probe() == "curl -fsS https://x/healthz"
    assert wait.change(Fact("", 0), set()) is None
    assert wait.change(Fact("", 7), set()) is not None and not wait.counts
    # a wait whose condition the step before it already reads: no probe of its own, waited for only after a change
    after = WaitStep("node registered", "kubectl get node n1", only_after_change=True)
    assert after.probe() is None and after.change(None, set()) is None
    assert "until kubectl get node n1" in after.waiting().commands[0]


def test_journal_says_why_and_forgets_a_replaced_machine(tmp_path):
    from provisioner.state import Journal
    j = Journal(tmp_path)
    assert j.check_identity("node1", "aaaa") is None
    assert j.why_changed("node1", "prep", "h1") == "new"
    j.record("node1", "prep", "h1")
    assert Journal(tmp_path).why_changed("node1", "prep", "h1") == "drift"
    assert Journal(tmp_path).why_changed("node1", "prep", "h2") == "inputs changed"
    j = Journal(tmp_path)
    assert j.check_identity("node1", "aaaa") is None
    said = j.check_identity("node1", "bbbb")
    assert "node1 is another machine" in said
    assert Journal(tmp_path).why_changed("node1", "prep", "h1") == "new"


def test_journal_confirming_the_same_inputs_writes_nothing(tmp_path):
    """A no-op re-run records every (host, phase) again with the same inputs: the file is not replaced (each
    save is an fsync'd temp file + rename under a lock all hosts share); new inputs are written at once."""
    from provisioner.state import Journal
    j = Journal(tmp_path)
    j.record("node1", "prep", "h1")
    before = j.path.stat().st_ino, j.path.read_text()
    Journal(tmp_path).record("node1", "prep", "h1")
    assert (j.path.stat().st_ino, j.path.read_text()) == before
    Journal(tmp_path).record("node1", "prep", "h2")
    assert Journal(tmp_path).why_changed("node1", "prep", "h2") == "drift"
    assert j.path.stat().st_ino != before[0]


def test_probe_all_reads_every_phase_in_one_round_trip_and_each_command_once():
    """The engine's batching: many phases' probes, one remote command, duplicates run once (run here by bash)."""
    import subprocess
    from provisioner.probes import probe_all
    from provisioner.steps import WaitStep

    class LocalRemote:          # stands for Remote.run: executes the script with bash, as the host would
        calls: list[str] = []

        def run(self, command, check=False, quiet=False):
            self.calls.append(command)
            return subprocess.run(["bash", "-c", command], capture_output=True, text=True)

    remote = LocalRemote()
    groups = {"init": [CommandStep("a", "echo ok-$((20+22))", "x"), WaitStep("api", "exit 7")],
              "verify": [WaitStep("api again", "exit 7"), CommandStep("b", "echo ok-$((20+22))", "y"),
                         CommandStep("no probe", None, "z")]}
    facts = probe_all(remote, groups)
    assert len(remote.calls) == 1 and remote.calls[0].count("echo ok-") == 1 and remote.calls[0].count("exit 7") == 1
    assert facts["init"]["a"].output == facts["verify"]["b"].output == "ok-42"
    assert facts["init"]["api"].rc == facts["verify"]["api again"].rc == 7
    assert "no probe" not in facts["verify"]


def test_prefetch_uses_what_preflight_carried_and_reads_only_the_rest(tmp_path):
    """One read per step per run: probes preflight already ran in its round trip are not run again; a host
    with some missing gets them in ONE more round trip; an up with every probe carried costs no extra one."""
    import subprocess
    from provisioner.engine import Engine, UpOptions, build_context
    from provisioner.probes import StepBook
    from provisioner.phases.base import OsInfo
    from provisioner.runlog import RunLog
    from provisioner.state import Journal
    from provisioner.validation import load_inventory

    class CountingRemote:
        def __init__(self):
            self.calls = []

        def run(self, command, check=False, quiet=False):
            self.calls.append(command)     # answer every probe with a made-up fact: only the count matters here
            return subprocess.CompletedProcess(command, 0, "", "")

    inv = load_inventory(Path(__file__).resolve().parents[1] / "inventories/lab.yaml")
    ctx = build_context(inv, tmp_path)
    ctx = dataclasses.replace(ctx, os={h.hostname: OsInfo("debian", "12", "bookworm", "", "amd64") for h in inv.hosts})
    wanted = StepBook(ctx).probes(PHASES, None)
    assert len(wanted["master1"]) > 20 and len(set(wanted["master1"])) == len(wanted["master1"])
    remotes = {name: CountingRemote() for name in wanted}
    session = type("S", (), {"remotes": remotes, "redactor": staticmethod(lambda t: t)})()
    engine = Engine(ctx, session, Journal(tmp_path), UpOptions(), None, RunLog(tmp_path / "log", lambda t: t))
    carried = {name: {c: Fact("", 0) for c in commands} for name, commands in wanted.items() if name != "node1"}
    carried["node2"].pop(wanted["node2"][0])
    engine.prefetch(PHASES, carried)
    assert [len(r.calls) for n, r in remotes.items() if n not in ("node1", "node2")] == [0] * (len(remotes) - 2)
    assert len(remotes["node1"].calls) == 1 and len(remotes["node2"].calls) == 1
    def sent(command):      # as it appears inside the one privileged script (shlex-quoted: ' -> '"'"')
        return command.replace("'", "'\"'\"'")
    assert sent(wanted["node2"][0]) in remotes["node2"].calls[0]
    assert sent(wanted["node2"][1]) not in remotes["node2"].calls[0]
    assert set(engine.prefetched["master1"]) == set(wanted["master1"])


def test_steps_are_built_once_per_host_and_os(tmp_path):
    """StepBook: the guess for preflight (the OS each host ran last time) is reused when the session reads the
    same OS; a host that came back with another OS gets its steps built again, once. A phase that needs the OS
    is not guessed for a host never seen."""
    import dataclasses
    from types import SimpleNamespace

    from provisioner.phases.base import OsInfo, Phase
    from provisioner.probes import StepBook

    built = []
    hosts = [SimpleNamespace(hostname=n) for n in ("a", "b", "c")]

    def steps(ctx, host):
        built.append((host.hostname, ctx.os.get(host.hostname)))
        return [CommandStep(f"x on {host.hostname}", f"test -e /x-{ctx.os[host.hostname].distro}", "true")]

    phase = Phase("p", "needs the OS", lambda inv: hosts, steps, needs_os=True)
    bookworm, noble = OsInfo("debian", "12", "bookworm", "", "amd64"), OsInfo("ubuntu", "24.04", "noble", "debian", "amd64")
    ctx = dataclasses.make_dataclass("Ctx", ["inv", "os"])(None, {})      # what StepBook reads of UpContext
    book = StepBook(ctx)
    guessed = book.guess({"a": bookworm, "b": bookworm}, [phase], None)
    assert sorted(guessed) == ["a", "b"] and len(built) == 2          # c: never seen, its OS unknown
    ctx.os.update({"a": bookworm, "b": noble, "c": bookworm})           # what the session read
    wanted = book.probes([phase], None)
    assert built == [("a", bookworm), ("b", bookworm), ("b", noble), ("c", bookworm)]
    assert wanted["b"] == ["test -e /x-ubuntu"]
    for host in hosts:
        book.steps(phase, host)
    assert len(built) == 4                                               # the run itself builds nothing again


def test_a_read_on_another_host_is_made_once_for_the_phase(tmp_path):
    """Steps that need the same read on another host (Step.elsewhere: the joins' node list on the first control
    plane) get it from ONE read there per phase, not one per host (issue 27: 96 workers each asked the API for
    its own Node through the VIP); while the run has changed nothing it comes from the prefetch, with no read."""
    import subprocess
    from types import SimpleNamespace
    from provisioner.engine import Engine, UpOptions
    from provisioner.phases.base import Phase
    from provisioner.reporter import Reporter
    from provisioner.state import Journal
    from provisioner.steps import FuncStep

    class LocalRemote:          # stands for Remote.run: executes the script with bash, as the host would
        def __init__(self):
            self.calls, self.current_step = [], ""

        def run(self, command, check=False, quiet=False):
            self.calls.append(command)
            return subprocess.run(["bash", "-c", command], capture_output=True, text=True)

    class Log:
        def note(self, host, text):
            pass

    seen: dict[str, tuple] = {}
    listing = "echo node-list-of-$((40+2))"

    def steps(ctx, host):
        def needed(fact):
            seen[host.hostname] = (fact.output, fact.elsewhere.output if fact.elsewhere else None)
            return None
        return [FuncStep("joined?", f"echo own-{host.hostname}", needed, None, elsewhere=("master1", listing))]

    hosts = [SimpleNamespace(hostname=f"w{i}") for i in range(1, 97)]
    phase = Phase("join-workers", "in parallel", lambda inv: hosts, steps, journaled=False)
    remotes = {name: LocalRemote() for name in ["master1", *(h.hostname for h in hosts)]}
    session = SimpleNamespace(remotes=remotes, redactor=lambda s: s)
    engine = Engine(SimpleNamespace(inv=None), session, Journal(tmp_path), UpOptions(), Reporter(), Log())
    engine.dirty.set()                     # something changed earlier in the run: the list is read now
    prun = engine.run_phase(phase)
    assert [h.status for h in prun.hosts] == ["ok"] * 96
    assert len(remotes["master1"].calls) == 1 and listing in remotes["master1"].calls[0]
    assert seen["w7"] == ("own-w7", "node-list-of-42") and len(set(seen.values())) == 96
    assert all(len(remotes[h.hostname].calls) == 1 for h in hosts)        # each worker's own probe
    # a no-op run: nothing changed since the prefetch, which read the list with master1's probes
    engine = Engine(SimpleNamespace(inv=None), session, Journal(tmp_path), UpOptions(), Reporter(), Log())
    engine.prefetched = {"master1": {listing: Fact("node-list-from-prefetch", 0)},
                         **{h.hostname: {f"echo own-{h.hostname}": Fact(f"own-{h.hostname}", 0)} for h in hosts}}
    remotes["master1"].calls.clear()
    engine.run_phase(phase)
    assert remotes["master1"].calls == [] and seen["w1"] == ("own-w1", "node-list-from-prefetch")
