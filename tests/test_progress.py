"""Progress away from a terminal: a line every few seconds with count, rate and time left."""

import io

from reportgen.progress import status_line, track


class FakeClock:
    """Advances by ``step`` seconds each time it is read."""

    def __init__(self, step: float):
        self.now, self.step = 0.0, step

    def __call__(self) -> float:
        self.now += self.step
        return self.now


def test_lines_every_few_seconds_with_count_rate_and_time_left():
    stream = io.StringIO()
    items = list(track(range(10), total=10, desc="attention", stream=stream, clock=FakeClock(1.0)))
    assert items == list(range(10))
    lines = stream.getvalue().splitlines()
    # The clock moves 1 s per item: a line after the 5th and the 10th item, then the summary.
    assert lines == [
        "reportgen: attention 5/10 images, 1.0/s, about 5 s left",
        "reportgen: attention 10/10 images, 1.0/s",
        "reportgen: attention 10/10 images in 11 s",
    ]


def test_a_stream_of_unknown_length_shows_its_count_and_rate():
    stream = io.StringIO()
    list(track(iter(range(10)), total=None, desc="attention", stream=stream, clock=FakeClock(1.0)))
    assert stream.getvalue().splitlines() == [
        "reportgen: attention 5 images, 1.0/s",
        "reportgen: attention 10 images, 1.0/s",
        "reportgen: attention 10 images in 11 s",
    ]


def test_quick_loops_print_nothing():
    stream = io.StringIO()
    assert list(track("abc", total=3, desc="pages", stream=stream, clock=FakeClock(0.1))) == [
        "a",
        "b",
        "c",
    ]
    assert stream.getvalue() == ""


def test_work_done_before_counts_towards_the_total_not_the_rate():
    stream = io.StringIO()
    list(track(range(4), total=104, initial=100, desc="x", stream=stream, clock=FakeClock(2.5)))
    first = stream.getvalue().splitlines()[0]
    assert first == "reportgen: x 102/104 images, 0.4/s, about 5 s left"


def test_the_rate_and_time_left_count_from_the_first_item_not_the_wait_for_it():
    """The first image comes once the model is loaded (30 s here), then one a second."""
    stream = io.StringIO()
    times = iter([0.0, 30.0, *range(31, 60)])
    list(track(range(12), total=12, desc="attention", stream=stream, clock=lambda: next(times)))
    assert stream.getvalue().splitlines() == [
        "reportgen: attention 1/12 images",
        "reportgen: attention 6/12 images, 1.0/s, about 6 s left",
        "reportgen: attention 11/12 images, 1.0/s, about 1 s left",
        "reportgen: attention 12/12 images in 42 s",
    ]


def test_long_durations_read_in_minutes_and_hours():
    assert status_line("pages", 10, 400, "page", 1.0).endswith("about 6 min 30 s left")
    assert status_line("pages", 0, 100000, "page", 2.0).endswith("about 13 h 53 min left")


def test_a_process_that_imported_ipykernel_is_no_kernel():
    """jupyter_client imports ipykernel to start a kernel: its own progress stays plain lines."""
    import ipykernel.kernelapp  # noqa: F401

    stream = io.StringIO()
    list(track(range(5), total=5, desc="figures", stream=stream, clock=FakeClock(1.0)))
    assert stream.getvalue().splitlines()[-1] == "reportgen: figures 5/5 images in 6 s"
