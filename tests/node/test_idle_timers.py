"""An idle node's periodic looks (its certificate file, its database's files for
another connection's writes) are calls on the process's shared timers
(``runloop.every``), one timer per interval for all nodes, and a stopped node leaves
none of them behind."""

from __future__ import annotations

from pathlib import Path

from structlog.testing import capture_logs

from exchange.node import runner
from exchange.runloop import timers

from ..federation import Federation, wait_until
from ..postgres import on_postgresql


def _interval(fed: Federation) -> float:
    return fed["ES-CNA"].config.audit.checkpoint_interval.total_seconds()


async def test_nodes_share_the_timers_and_a_stopped_node_leaves_none(tmp_path: Path) -> None:
    fed = Federation.create(tmp_path, ["ES-CNA", "MA-CNA"], users=False)
    await fed.start()
    try:
        cert, look = runner.CERT_CHECK_SECONDS, _interval(fed)
        # each node: its certificate watcher, and (SQLite: a file to look at) the
        # checkpointer's look once its start-up writes are signed
        want = {cert: 2} if on_postgresql() else {cert: 2, look: 2}
        await wait_until(lambda: timers() == want, what=f"{want}, not {timers()}")
        await fed.stop("MA-CNA")
        want = {cert: 1} if on_postgresql() else {cert: 1, look: 1}
        assert timers() == want
    finally:
        await fed.stop()
    assert timers() == {}  # no callback left to call into a stopped node


async def test_a_node_stopped_while_busy_leaves_no_timer(tmp_path: Path) -> None:
    """Stopped at once after its start (the checkpointer in any of its waits)."""
    fed = Federation.create(tmp_path, ["ES-CNA"], users=False)
    await fed.start()
    await fed.stop()
    assert timers() == {}


async def test_a_certificate_file_missing_for_a_moment_is_looked_at_again(
    tmp_path: Path,
) -> None:
    """The look runs on a timer shared with every other node: a certificate file
    missing mid-rotation is a refused reload (logged), not an exception in it (it
    stopped the node's own watcher task for good before)."""
    fed = Federation.create(tmp_path, ["ES-CNA"], users=False)
    await fed.start()
    member = fed["ES-CNA"]
    try:
        running = member.running
        assert running is not None
        cert = member.data / "keys" / "tls.crt"
        kept = cert.read_bytes()
        cert.unlink()
        with capture_logs() as logs:
            assert running.reload_certificate() is False
        assert [e["event"] for e in logs] == ["tls_reload_failed"]
        cert.write_bytes(kept)  # back, as a new file: loaded again, same pair
        assert running.reload_certificate() is True
        assert running.reload_certificate() is False  # unchanged since
    finally:
        await fed.stop()
