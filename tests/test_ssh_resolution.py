"""How a host is reached, resolved like OpenSSH (no network): order, ssh_config, hops, ProxyCommand.

The rules are OpenSSH's (ssh_config(5)); where the code follows its source, the
test names the file: openssh/openssh-portable readconf.c (first obtained value
wins; ProxyJump and ProxyCommand exclude each other, whichever comes first) and
sshconnect.c (ssh_proxy_connect: ProxyCommand runs as ``$SHELL -c 'exec ...'``;
expand_proxy_command: %h %p %r %n %%).
"""

from __future__ import annotations

import copy
import getpass
import shlex
from pathlib import Path

import paramiko
import pytest
import yaml

from provisioner.errors import UsageError
from provisioner.inventory import Inventory
from provisioner.openssh import openssh_config
from provisioner.hopspec import parse_hops
from provisioner.sshconfig import Resolver, SshConfig
from provisioner.hops import ProxyCommand
from provisioner.hostkeys import fingerprint
from provisioner.transport import HostKeys, Ssh
from tests.support.cli import run_cli

SEED = yaml.safe_load((Path(__file__).resolve().parents[1] / "inventories" / "seed-ha.yaml").read_text())


def inventory(defaults: dict | None = None, host: dict | None = None) -> Inventory:
    """seed-ha with ``host_defaults.ssh`` replaced by ``defaults`` and master1's ``ssh`` by ``host``."""
    data = copy.deepcopy(SEED)
    data.setdefault("host_defaults", {})["ssh"] = defaults or {}
    data["hosts"][0]["ssh"] = host or {}
    return Inventory.model_validate(data)


def config(tmp_path: Path, text: str) -> SshConfig:
    path = tmp_path / "ssh_config"
    path.write_text(text)
    return SshConfig.load(path)


def resolve(tmp_path, text="", defaults=None, host=None, **over):
    inv = inventory(defaults, host)
    return Resolver(config(tmp_path, text), **over).target(inv.hosts[0])


# --- the order: CLI > host > host_defaults > ssh_config > defaults -------------------------------

def test_defaults_without_any_setting(tmp_path):
    t = resolve(tmp_path)
    assert (t.user, t.port, t.key, t.identity_files, bool(t.route)) == ("root", 22, None, (), False)


def test_ssh_config_fills_what_the_inventory_leaves_unset(tmp_path):
    # Matched on the inventory hostname and on the address (seed-ha's master1 is 10.0.0.101).
    text = "Host master1\n  User alice\nHost 10.0.0.101\n  Port 2200\n  IdentityFile ~/k1\n"
    t = resolve(tmp_path, text)
    assert (t.user, t.port) == ("alice", 2200)
    assert t.identity_files == (str(Path("~/k1").expanduser()),)


def test_inventory_wins_over_ssh_config_and_cli_over_both(tmp_path):
    text = "Host master1\n  User alice\n  Port 2200\n"
    assert (resolve(tmp_path, text, defaults={"user": "ops"}).user) == "ops"
    t = resolve(tmp_path, text, defaults={"user": "ops", "port": 2201}, host={"user": "bob"})
    assert (t.user, t.port) == ("bob", 2201)
    t = resolve(tmp_path, text, defaults={"user": "ops"}, host={"user": "bob", "port": 2202}, user="carol", port=2203)
    assert (t.user, t.port) == ("carol", 2203)


def test_first_obtained_value_wins(tmp_path):
    # readconf.c: "for each parameter, the first obtained value will be used".
    t = resolve(tmp_path, "Host master1\n  User first\nHost *\n  User second\n  Port 2222\n")
    assert (t.user, t.port) == ("first", 2222)


def test_inventory_key_comes_before_identity_files_of_ssh_config(tmp_path):
    t = resolve(tmp_path, "Host master1\n  IdentityFile /k/config\n  IdentitiesOnly yes\n", host={"key": "/k/inv"})
    assert t.identity_files == ("/k/inv", "/k/config") and t.identities_only


def test_bind_resolves_into_its_own_targets_and_leaves_the_inventory_as_it_is(tmp_path):
    """The resolved login reaches checks and steps through the targets (Node.login, UpContext.logins), never by
    rewriting the validated inventory."""
    from provisioner.checks.base import Facts, Node
    from provisioner.checks.system import Privilege
    from provisioner.phases.base import UpContext

    inv = inventory()
    before = inv.model_dump()
    ssh = Ssh(HostKeys(tmp_path / "kh"), Resolver(config(tmp_path, "Host *\n  User ops\n  Port 2222\n"))).bind(inv)
    host = inv.hosts[0]
    assert inv.model_dump() == before
    assert (ssh.target(host).user, ssh.target(host).port) == ("ops", 2222)
    assert ssh.logins()[host.hostname] == "ops"
    node = Node(host, inv, Facts(), login=ssh.target(host).user)
    assert Privilege().evaluate(Facts(privileged=True), node).observed == "ops with sudo -n"
    ctx = UpContext(inv=inv, secrets=None, state_dir=tmp_path, files={}, logins=ssh.logins())
    assert ctx.login(host) == "ops"


# --- ProxyJump: any number of hops, each resolved through its own ssh_config entry -----------------

HOPS = """\
Host bastion
  HostName 192.0.2.10
  User jump
  Port 2022
  IdentityFile /k/bastion
Host inner
  HostName 192.0.2.20
Host master1
  ProxyJump bastion,ops@inner:2200
"""


def test_proxyjump_two_hops_from_ssh_config(tmp_path):
    t = resolve(tmp_path, HOPS, host={"key": "/k/target"})
    first, second = t.route.hops
    assert (first.name, first.address, first.port, first.user, first.identity_files) == (
        "bastion", "192.0.2.10", 2022, "jump", ("/k/bastion",))
    # inner: user and port from the spec; no IdentityFile of its own -> the target's ssh.key
    assert (second.name, second.address, second.port, second.user, second.identity_files) == (
        "inner", "192.0.2.20", 2200, "ops", ("/k/target",))
    assert t.proxy_jump == "jump@192.0.2.10:2022,ops@192.0.2.20:2200"
    assert t.route.proxy_command is None


def test_hop_user_defaults_to_the_local_login_like_openssh(tmp_path):
    t = resolve(tmp_path, "", defaults={"proxy_jump": "10.0.0.5"})
    assert t.route.hops[0].user == getpass.getuser()
    assert t.route.hops[0].identity_files == ()          # agent and default keys


def test_inventory_proxy_jump_wins_over_ssh_config(tmp_path):
    t = resolve(tmp_path, HOPS, defaults={"proxy_jump": "ops@10.0.0.5:22"})
    assert [h.label for h in t.route.hops] == ["ops@10.0.0.5:22"]


def test_first_hop_is_reached_through_its_own_proxyjump(tmp_path):
    text = "Host outer\n  HostName 192.0.2.1\n  User o\nHost bastion\n  ProxyJump outer\n"
    t = resolve(tmp_path, text, host={"proxy_jump": "bastion"})
    assert [h.name for h in t.route.hops] == ["outer", "bastion"]


def test_a_proxyjump_loop_is_refused_in_one_line(tmp_path):
    with pytest.raises(UsageError, match="ProxyJump loop"):
        resolve(tmp_path, "Host bastion\n  ProxyJump bastion\n", host={"proxy_jump": "bastion"})


def test_proxyjump_none_disables(tmp_path):
    assert not resolve(tmp_path, "Host master1\n  ProxyJump none\nHost *\n  ProxyJump bastion\n").route


# --- ProxyCommand: a subprocess channel, tokens expanded with the resolved values, shell-quoted ---

def test_proxycommand_is_a_command_not_a_jump_host(tmp_path):
    t = resolve(tmp_path, "Host master1\n  ProxyCommand ssh -W %h:%p -l %r gw # 100%% %n\n",
                defaults={"user": "ops", "port": 2200})
    assert t.route.hops == ()
    assert t.route.proxy_command == "ssh -W 10.0.0.101:2200 -l ops gw # 100% master1"


def test_proxycommand_values_are_shell_quoted(tmp_path):
    # The address and user are validated, but a value that needed quoting would get it.
    r = Resolver()
    out = r.expand_proxy_command("h", "nc %h %p", address="a b", port=22, user="u", name="h")
    assert shlex.split(out) == ["nc", "a b", "22"]


def test_unknown_proxycommand_token_is_refused(tmp_path):
    with pytest.raises(UsageError, match=r"Host master1: ProxyCommand .* uses %x"):
        resolve(tmp_path, "Host master1\n  ProxyCommand nc %x\n")


def test_proxyjump_and_proxycommand_whichever_comes_first(tmp_path):
    # readconf.c: ProxyJump and ProxyCommand - the first one obtained prevents the other.
    t = resolve(tmp_path, "Host master1\n  ProxyCommand nc %h %p\nHost *\n  ProxyJump bastion\n")
    assert t.route.proxy_command == "nc 10.0.0.101 22" and not t.route.hops
    t = resolve(tmp_path, "Host master1\n  ProxyJump bastion\n  ProxyCommand nc %h %p\n")
    assert [h.name for h in t.route.hops] == ["bastion"] and t.route.proxy_command is None
    # a Host * ProxyCommand also reaches the hop itself, as with OpenSSH
    t = resolve(tmp_path, "Host master1\n  ProxyJump bastion\nHost *\n  ProxyCommand nc %h %p\n")
    assert [h.name for h in t.route.hops] == ["bastion"] and t.route.proxy_command == "nc bastion 22"


def test_proxycommand_runs_through_the_shell_with_exec(tmp_path, monkeypatch):
    # sshconnect.c ssh_proxy_connect: argv = {$SHELL or _PATH_BSHELL, "-c", "exec " + command}.
    monkeypatch.setenv("SHELL", "/bin/sh")
    proxy = ProxyCommand("printf hello")
    try:
        assert proxy.cmd == ["/bin/sh", "-c", "exec printf hello"]
        assert proxy.recv(5) == b"hello"
        proxy.settimeout(30)
        assert proxy.recv(5) == b""     # EOF at once, like a socket (paramiko's own recv spun until its timeout)
    finally:
        proxy.close()


# --- values from ssh_config are checked like the inventory's --------------------------------------

@pytest.mark.parametrize("text, words", [
    ("Host master1\n  User $(id)\n", "Host master1: User '$(id)' is not a login name"),
    ("Host master1\n  Port 0\n", "Host master1: Port '0' is not a port"),
    ("Host master1\n  ProxyJump bastion -oProxyCommand=id\n", "ProxyJump 'bastion -oProxyCommand=id' is not usable"),
    ("Host master1\n  IdentitiesOnly maybe\n", "IdentitiesOnly 'maybe' is not yes or no"),
    ("Host bastion\n  HostName a;b\nHost master1\n  ProxyJump bastion\n", "Host bastion: HostName 'a;b'"),
])
def test_bad_ssh_config_values_name_file_host_and_option(tmp_path, text, words):
    with pytest.raises(UsageError) as exc:
        resolve(tmp_path, text)
    assert str(tmp_path / "ssh_config") in str(exc.value) and words in str(exc.value)


# --- the inventory's proxy_jump: OpenSSH's -J syntax, nothing else --------------------------------

@pytest.mark.parametrize("good", ["bastion", "ops@bastion:22", "ops@10.0.0.5:2222,inner", "a,b,c"])
def test_proxy_jump_accepts_the_j_syntax(good):
    assert inventory({"proxy_jump": good}).hosts[1].ssh.proxy_jump == good


@pytest.mark.parametrize("bad", ["bastion -oProxyCommand=id", "-oProxyCommand=id", "a, b", "a,,b", "ops@", "a:99999",
                                 "a:b", "Ops@bastion", "bastion;id", ",".join(["h"] * 9)])
def test_proxy_jump_refuses_anything_else(bad):
    with pytest.raises(ValueError):
        parse_hops(bad)
    with pytest.raises(Exception, match="jump host|at most 8"):
        inventory({"proxy_jump": bad})


# --- host keys: accepted ones are announced once, with their fingerprint and whose they are -------

def test_accepted_key_is_announced_once_with_its_fingerprint(tmp_path):
    lines: list[str] = []
    keys = HostKeys(tmp_path / "known_hosts", accept_new=True, user_file=tmp_path / "none", announce=lines.append)
    key = paramiko.Ed25519Key.from_private_key_file(str(_ed25519(tmp_path)))
    keys.record("10.0.0.5", key, "bastion (hop 1 of 2, ops@10.0.0.5:22)")
    keys.record("10.0.0.5", key, "bastion (hop 1 of 2, ops@10.0.0.5:22)")
    assert lines == [f"bastion (hop 1 of 2, ops@10.0.0.5:22): accepted new host key ssh-ed25519 {fingerprint(key)} "
                     f"for 10.0.0.5, recorded in {tmp_path / 'known_hosts'}"]
    assert (tmp_path / "known_hosts").read_text().count("10.0.0.5 ssh-ed25519") == 1


def _ed25519(tmp_path: Path) -> Path:
    import subprocess
    path = tmp_path / "hostkey"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(path)], check=True)
    return path


# --- provisioner ssh: the config handed to OpenSSH -------------------------------------------------

def test_openssh_config_for_two_hops(tmp_path):
    t = resolve(tmp_path, HOPS, host={"key": "/k/target"}, user="ops")
    text = openssh_config(t, [Path("/u/known_hosts"), Path("/s/known_hosts")])
    parsed = paramiko.SSHConfig.from_text(text)
    target = parsed.lookup("provisioner-target")
    assert (target["hostname"], target["user"], target["port"]) == ("10.0.0.101", "ops", "22")
    assert target["proxyjump"] == "provisioner-hop-1,provisioner-hop-2"
    assert target["stricthostkeychecking"] == "yes"
    assert '  UserKnownHostsFile "/u/known_hosts" "/s/known_hosts"\n' in text
    hop2 = parsed.lookup("provisioner-hop-2")
    assert (hop2["hostname"], hop2["user"], hop2["port"], hop2["identityfile"]) == (
        "192.0.2.20", "ops", "2200", ["/k/target"])


def test_openssh_config_keeps_a_proxycommand_literal(tmp_path):
    t = resolve(tmp_path, "Host master1\n  ProxyCommand nc %h %p # 5%%\n")
    assert "  ProxyCommand nc 10.0.0.101 22 # 5%%\n" in openssh_config(t, [Path("/k")])


# --- the CLI: bad SSH input is one line and exit 2 -------------------------------------------------

def test_cli_missing_ssh_config_is_exit_2(tmp_path):
    r = run_cli("preflight", "-i", "inventories/seed-ha.yaml", "--ssh-config", str(tmp_path / "nope"),
                "--state-dir", str(tmp_path / "s"))
    assert r.returncode == 2 and r.stderr.strip().splitlines() == [
        f"--ssh-config: {tmp_path / 'nope'}: no such file - give an ssh_config file (like ~/.ssh/config)"]


def test_cli_bad_user_is_exit_2(tmp_path):
    r = run_cli("ssh", "-i", "inventories/seed-ha.yaml", "--user", "$(id)", "--state-dir", str(tmp_path), "master1")
    assert r.returncode == 2 and "--user: '$(id)' is not a login name" in r.stderr and "Traceback" not in r.stderr


def test_install_gives_a_client_only_the_keys_of_the_host_it_connects_to(tmp_path):
    """Each connection's client gets the keys paramiko will look up for its target - the address, or [address]:port
    off port 22 (paramiko/client.py SSHClient.connect, server_hostkey_name) - hashed known_hosts lines included;
    not every known host's keys (each add scans the client's list: at 30 hosts that was 900 adds per run)."""
    import paramiko
    from paramiko.hostkeys import HostKeys as ParamikoHostKeys

    from provisioner.transport import HostKeys

    keys = {}
    for n in ("a", "b", "c"):
        (tmp_path / n).mkdir()
        keys[n] = paramiko.Ed25519Key.from_private_key_file(str(_ed25519(tmp_path / n)))
    hashed = ParamikoHostKeys.hash_host("10.0.0.3")
    (tmp_path / "known_hosts").write_text(
        f"10.0.0.1 ssh-ed25519 {keys['a'].get_base64()}\n"
        f"[10.0.0.2]:2222 ssh-ed25519 {keys['b'].get_base64()}\n"
        f"{hashed} ssh-ed25519 {keys['c'].get_base64()}\n")
    trusted = HostKeys(tmp_path / "known_hosts", user_file=tmp_path / "none")
    for address, port, key in (("10.0.0.1", 22, "a"), ("10.0.0.2", 2222, "b"), ("10.0.0.3", 22, "c")):
        client = paramiko.SSHClient()
        trusted.install(client, "x", address, port)
        name = address if port == 22 else f"[{address}]:{port}"
        assert len(client.get_host_keys()) == 1
        assert client.get_host_keys().lookup(name)["ssh-ed25519"] == keys[key]
    client = paramiko.SSHClient()
    trusted.install(client, "x", "10.0.0.9", 22)          # unknown: nothing, the policy decides
    assert len(client.get_host_keys()) == 0


def test_no_route_is_not_called_a_refusal():
    """paramiko raises NoValidConnectionsError for EHOSTUNREACH as well as ECONNREFUSED (paramiko/client.py
    SSHClient.connect: `if e.errno not in (ECONNREFUSED, EHOSTUNREACH): raise`): an address nothing answers ARP
    for is not 'is sshd running?'."""
    import errno

    import paramiko

    from provisioner.hops import describe
    from provisioner.sshconfig import Endpoint

    ep = Endpoint("w78", "172.31.250.87", 22, "root")
    addr = ("172.31.250.87", 22)
    no_route = paramiko.ssh_exception.NoValidConnectionsError({addr: OSError(errno.EHOSTUNREACH, "No route to host")})
    refused = paramiko.ssh_exception.NoValidConnectionsError({addr: OSError(errno.ECONNREFUSED, "Connection refused")})
    assert describe(no_route, ep, 10).startswith("no route to 172.31.250.87:22 (nothing answered for its address)")
    assert describe(refused, ep, 10) == "connection refused on 172.31.250.87:22 - is sshd running?"
