"""tgai.core.assets and the CLI: hashed downloads from a local server, offline mode, bundles (lesson 00)."""

import dataclasses
import functools
import hashlib
import http.server
import tarfile
import threading
import types

import pytest

from tgai import __main__ as cli
from tgai.core import assets

PAYLOAD = b"tgai test asset " * 1000


@pytest.fixture
def home(monkeypatch, tmp_path):
    monkeypatch.setenv("TGAI_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))
    monkeypatch.delenv("TGAI_OFFLINE", raising=False)
    return tmp_path / "home"


class _Handler(http.server.SimpleHTTPRequestHandler):
    """Serves files from a folder; counts requests per path."""

    requests: dict = {}

    def do_GET(self):  # noqa: N802 (http.server's naming)
        _Handler.requests[self.path] = _Handler.requests.get(self.path, 0) + 1
        super().do_GET()

    def log_message(self, *args):
        pass


@pytest.fixture
def server(tmp_path):
    served = tmp_path / "served"
    served.mkdir()
    handler = functools.partial(_Handler, directory=str(served))
    _Handler.requests = {}
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield served, f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def _asset(base_url, filename="file.bin", payload=PAYLOAD, algorithm="sha256"):
    return assets.Asset(
        name="test_asset",
        url=f"{base_url}/{filename}",
        filename=filename,
        file_hash=hashlib.new(algorithm, payload).hexdigest(),
        hash_algorithm=algorithm,
        size=len(payload),
        licence="test",
        description="test",
    )


def test_fetch_good_file(home, server):
    served, url = server
    (served / "file.bin").write_bytes(PAYLOAD)
    path = assets.fetch(_asset(url), quiet=True)
    assert path.read_bytes() == PAYLOAD and path.parent == home / "assets"
    # A second fetch uses the cache without touching the server.
    assert assets.fetch(_asset(url), quiet=True) == path
    assert _Handler.requests == {"/file.bin": 1}


def test_fetch_md5_hash(home, server):
    served, url = server
    (served / "file.bin").write_bytes(PAYLOAD)
    assert assets.fetch(_asset(url, algorithm="md5"), quiet=True).read_bytes() == PAYLOAD


def test_corrupt_download_is_retried_once_then_refused(home, server):
    served, url = server
    (served / "file.bin").write_bytes(PAYLOAD[:-1] + b"X")
    with pytest.raises(assets.AssetIntegrityError, match="does not match its sha256.*Two downloads failed"):
        assets.fetch(_asset(url), quiet=True)
    assert _Handler.requests == {"/file.bin": 2}
    assert not list((home / "assets").iterdir()), "nothing corrupt or partial is left in the cache"


def test_truncated_download_is_refused(home, server):
    served, url = server
    (served / "file.bin").write_bytes(PAYLOAD[:100])
    with pytest.raises(assets.AssetIntegrityError, match="truncated or padded: received 100 bytes"):
        assets.fetch(_asset(url), quiet=True)
    assert not list((home / "assets").iterdir())


def test_corrupt_cached_file_is_replaced(home, server):
    served, url = server
    (served / "file.bin").write_bytes(PAYLOAD)
    asset = _asset(url)
    (home / "assets").mkdir(parents=True)
    (home / "assets" / "file.bin").write_bytes(b"garbage")
    assert assets.status(asset)[0] == "corrupt"
    assert assets.fetch(asset, quiet=True).read_bytes() == PAYLOAD


def test_offline_never_touches_network(home, server, monkeypatch):
    served, url = server
    (served / "file.bin").write_bytes(PAYLOAD)
    monkeypatch.setenv("TGAI_OFFLINE", "1")
    with pytest.raises(assets.AssetMissingError, match="TGAI_OFFLINE is set.*python -m tgai fetch test_asset"):
        assets.fetch(_asset(url), quiet=True)
    assert _Handler.requests == {}


def test_keras_cache_is_used(home, tmp_path, monkeypatch):
    monkeypatch.setenv("TGAI_OFFLINE", "1")
    asset = dataclasses.replace(_asset("http://127.0.0.1:9"), keras_subdir="models")
    (tmp_path / "keras" / "models").mkdir(parents=True)
    (tmp_path / "keras" / "models" / "file.bin").write_bytes(PAYLOAD)
    assert assets.fetch(asset) == tmp_path / "keras" / "models" / "file.bin"


def test_registry_entries_are_complete():
    assert {"vgg16_imagenet", "resnet50_imagenet", "mnist", "cifar10"} <= set(assets.REGISTRY)
    assert len(assets.GROUPS["fashion_mnist"]) == 4
    for asset in assets.REGISTRY.values():
        assert asset.url.startswith("https://")
        assert len(asset.file_hash) == {"sha256": 64, "md5": 32}[asset.hash_algorithm]
        assert asset.size and asset.licence and asset.filename


def test_unknown_asset():
    with pytest.raises(ValueError, match="Unknown asset: received 'imagenet'. Valid assets:"):
        assets.fetch("imagenet")


def test_bundle_unbundle_doctor_round_trip(home, tmp_path, monkeypatch, capsys):
    mnist = assets.REGISTRY["mnist"]
    fake = dataclasses.replace(mnist, file_hash=hashlib.sha256(PAYLOAD).hexdigest(), size=len(PAYLOAD))
    monkeypatch.setitem(assets.REGISTRY, "mnist", fake)
    (home / "assets").mkdir(parents=True)
    (home / "assets" / "mnist.npz").write_bytes(PAYLOAD)
    archive = assets.bundle(tmp_path / "bundle.tar.gz")
    with tarfile.open(archive, "r:gz") as opened:
        assert opened.getnames() == ["assets", "assets/mnist.npz", assets.MANIFEST]
    assert not list(tmp_path.glob("*.partial"))  # the archive was written whole, then renamed
    # A classroom machine: empty cache, offline.
    monkeypatch.setenv("TGAI_HOME", str(tmp_path / "classroom"))
    monkeypatch.setenv("TGAI_OFFLINE", "1")
    assert assets.unbundle(archive) == ["mnist"]
    assert assets.status("mnist")[0] == "present"
    assert cli.main(["doctor"]) == 0
    assert "mnist" in capsys.readouterr().out


def test_unbundle_rejects_tampered_file(home, tmp_path, monkeypatch):
    monkeypatch.setitem(
        assets.REGISTRY,
        "mnist",
        dataclasses.replace(assets.REGISTRY["mnist"], file_hash=hashlib.sha256(PAYLOAD).hexdigest(), size=len(PAYLOAD)),
    )
    (home / "assets").mkdir(parents=True)
    (home / "assets" / "mnist.npz").write_bytes(PAYLOAD)
    archive = assets.bundle(tmp_path / "bundle.tar.gz")
    tampered = tmp_path / "tampered.tar.gz"
    with tarfile.open(archive) as source, tarfile.open(tampered, "w:gz") as target:
        for member in source.getmembers():
            content = source.extractfile(member) if member.isfile() else None
            if member.name.endswith("mnist.npz"):
                content = __import__("io").BytesIO(b"Y" * member.size)
            target.addfile(member, content)
    monkeypatch.setenv("TGAI_HOME", str(tmp_path / "classroom"))
    with pytest.raises(assets.AssetIntegrityError, match="fails its hash check"):
        assets.unbundle(tampered)


def test_bundle_missing_named_asset(home, tmp_path):
    with pytest.raises(assets.AssetMissingError, match="Run `python -m tgai fetch cifar10` first"):
        assets.bundle(tmp_path / "b.tar.gz", ["cifar10"])


def test_unbundle_missing_and_not_an_archive(home, tmp_path):
    with pytest.raises(FileNotFoundError, match="bundle not found"):
        assets.unbundle(tmp_path / "nothing.tar.gz")
    (tmp_path / "junk.tar.gz").write_bytes(b"junk")
    with pytest.raises(assets.AssetIntegrityError, match="not a readable"):
        assets.unbundle(tmp_path / "junk.tar.gz")


def _cli(*arguments, env_home, monkeypatch, capsys):
    """`python -m tgai ARGUMENTS` run in this process (`tgai.__main__.main`): exit code, stdout and stderr.

    The real interpreter behind the command is exercised by tests/test_bad_input.py's integration test.
    """
    monkeypatch.setenv("TGAI_HOME", str(env_home))
    monkeypatch.setenv("TGAI_OFFLINE", "1")
    capsys.readouterr()
    try:
        code = cli.main(list(arguments))
    except SystemExit as exit_:  # argparse exits by itself on a usage error
        code = exit_.code
    captured = capsys.readouterr()
    return types.SimpleNamespace(returncode=code, stdout=captured.out, stderr=captured.err)


def test_cli_exit_codes(tmp_path, monkeypatch, capsys):
    missing = _cli("fetch", "mnist", env_home=tmp_path, monkeypatch=monkeypatch, capsys=capsys)
    assert missing.returncode == 1
    assert missing.stderr.strip().count("\n") == 0 and "python -m tgai fetch mnist" in missing.stderr
    unknown = _cli("fetch", "nonsense", env_home=tmp_path, monkeypatch=monkeypatch, capsys=capsys)
    assert unknown.returncode == 1 and "Unknown asset" in unknown.stderr
    empty = _cli("fetch", env_home=tmp_path, monkeypatch=monkeypatch, capsys=capsys)
    assert empty.returncode == 1 and "--all" in empty.stderr
    usage = _cli("pretrain", "nonsense", env_home=tmp_path, monkeypatch=monkeypatch, capsys=capsys)
    assert usage.returncode == 2 and "invalid choice" in usage.stderr
    doctor = _cli("doctor", env_home=tmp_path, monkeypatch=monkeypatch, capsys=capsys)
    assert doctor.returncode == 0 and "missing" in doctor.stdout and "judge" in doctor.stdout
