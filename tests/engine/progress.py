"""Shared assertion for the progress every adapter reports."""


def assert_steps_then_decode(calls: list[tuple[int, int]], *, steps: int) -> None:
    """One tick per step, then at least one per VAE decode call, counted 1..n against a total that was
    right from the first tick (a wrong plan would make the total grow mid-run)."""
    assert [done for done, _ in calls] == list(range(1, len(calls) + 1))
    assert {total for _, total in calls} == {len(calls)}
    assert len(calls) > steps
