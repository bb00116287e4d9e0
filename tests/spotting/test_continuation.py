"""MacroChain: the pieces of one laugh are one event; two expressions stay two."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from edge.events.record import EMOTIONS, Event, utc_iso
from edge.spotting.continuation import CONTINUE_MS, REST_SHARE, SHARED, MacroChain, continues, joined

FPS = 30.0
T0 = datetime(2026, 12, 6, 10, 0, 0, tzinfo=timezone.utc)


def _t(frame: int) -> str:
    return utc_iso(T0 + timedelta(milliseconds=frame * 1000.0 / FPS))


def event(on: int, off: int, emotion: str = "happiness", kind: str = "macro", apex: int | None = None) -> Event:
    apex = (on + off) // 2 if apex is None else apex
    return Event(on, apex, off, _t(on), _t(apex), _t(off), (off - on) * 1000.0 / FPS, kind, emotion, 0.8,
                 {e: float(e == emotion) for e in EMOTIONS}, {"AU12": 0.5}, {"yaw": 0.0, "pitch": 0.0, "roll": 0.0},
                 {"software": "t"})


def chain_with_scores(scores: dict[range, float], last: int) -> MacroChain:
    """A chain that observed `scores` (per frame range; 1.0 elsewhere) on frames 0..last."""
    chain = MacroChain()
    for i in range(last + 1):
        chain.observe(i, next((v for r, v in scores.items() if i in r), 1.0), i * 1000.0 / FPS)
    return chain


def test_a_laugh_that_dips_and_comes_back_is_one_event_with_the_whole_extent():
    # Score 100 through both pieces, a dip to 40 (40 % of the peak: not rest) in the 4-frame gap.
    chain = chain_with_scores({range(100, 201): 100.0, range(201, 205): 40.0, range(205, 400): 100.0}, 420)
    first, second = event(100, 200), event(205, 399, apex=300)
    assert chain.take([first], busy_from=205) == []  # a new piece under way 5 frames later: wait
    assert chain.take([second], busy_from=380) == []  # still inside what may continue it
    out = chain.take([], busy_from=None)
    assert len(out) == 1
    one = out[0]
    assert (one.onset_frame, one.apex_frame, one.offset_frame) == (100, 300, 399)  # the longer piece's apex
    assert one.onset_utc == first.onset_utc and one.offset_utc == second.offset_utc
    assert abs(one.duration_ms - 299 * 1000.0 / FPS) < 1.0
    assert one.id == second.id


def test_a_return_to_rest_between_two_smiles_keeps_them_apart():
    # The dip falls under REST_SHARE of the peak: the face came back to rest, two smiles.
    dip = 100.0 * REST_SHARE * 0.5
    chain = chain_with_scores({range(100, 201): 100.0, range(201, 205): dip, range(205, 400): 100.0}, 420)
    assert chain.take([event(100, 200)], busy_from=205) == []
    assert chain.take([event(205, 399)], busy_from=None) != []
    assert chain.flush() == []


def test_a_piece_starting_later_than_continue_ms_is_a_new_event():
    late = 200 + int(CONTINUE_MS / 1000.0 * FPS) + 3
    chain = chain_with_scores({range(100, 500): 100.0}, 520)
    first = chain.take([event(100, 200)], busy_from=None)
    second = chain.take([event(late, late + 100)], busy_from=None)
    assert [e.onset_frame for e in first + second] == [100, late]
    assert not continues(event(100, 200), event(late, late + 100))


def test_surprises_and_micro_events_pass_at_once_and_are_never_joined():
    chain = chain_with_scores({range(0, 400): 100.0}, 400)
    a, b = event(100, 130, "surprise"), event(132, 160, "surprise")
    assert chain.take([a], busy_from=132) == [a]  # only smiles and laughs wait
    assert chain.take([b], busy_from=None) == [b]
    flash = event(150, 160, "happiness", kind="micro")
    assert chain.take([flash], busy_from=120) == [flash]  # a flash inside a laugh is its own event


def test_an_episode_of_the_whole_laugh_swallows_the_piece_that_went_out_first_inside_it():
    chain = chain_with_scores({range(50, 600): 100.0}, 620)
    inside = event(300, 360)
    assert chain.take([inside], busy_from=50) == []  # the CNN's episode under way began at 50
    out = chain.take([event(50, 580)], busy_from=None)
    assert [(e.onset_frame, e.offset_frame) for e in out] == [(50, 580)]


def test_a_piece_inside_the_whole_laugh_is_swallowed_even_when_the_laugh_rests_inside():
    # A laugh that comes back to rest in its middle (the dip at 400-420 is under REST_SHARE), then
    # laughs again: the CNN's episode spans all of it, and the excursion spotter's piece (300-360)
    # lies inside. Nothing lies between an episode and a piece inside it, so the rest does not part
    # them: one expression, one event (the real clips, session 22: 9 false alarms over the views).
    dip = 100.0 * REST_SHARE * 0.5
    chain = chain_with_scores({range(50, 400): 100.0, range(400, 421): dip, range(421, 600): 100.0}, 620)
    inside = event(300, 360)
    assert chain.take([inside], busy_from=50) == []
    out = chain.take([event(50, 580)], busy_from=None)
    assert [(e.onset_frame, e.offset_frame) for e in out] == [(50, 580)]
    assert continues(event(50, 580), inside, lambda a, b: True)  # nested: continues whatever rested says
    # Two that only overlap still part where the face rested between them.
    assert not continues(event(50, 410), event(405, 580), lambda a, b: True)


def test_what_waits_comes_out_in_onset_order_at_the_end_of_the_stream():
    chain = chain_with_scores({range(0, 1000): 100.0}, 1000)
    assert chain.take([event(600, 700)], busy_from=650) == []
    early = chain.take([event(100, 200)], busy_from=650)  # nothing under way near it: out now
    assert [e.onset_frame for e in early] == [100]
    rest = chain.flush()
    assert [e.onset_frame for e in rest] == [600]
    assert chain.flush() == []


def test_joined_keeps_the_union_whichever_order_the_pieces_come_in():
    a, b = event(10, 50), event(40, 120)
    for x, y in ((a, b), (b, a)):
        j = joined(x, y)
        assert (j.onset_frame, j.offset_frame) == (10, 120)
        assert j.apex_frame == b.apex_frame


def test_pieces_sharing_a_third_of_the_shorter_join_even_where_the_score_dips_to_rest_level():
    # A long laugh re-baselined mid-way: the score in the 40 shared frames sits under REST_SHARE of the
    # peak, yet both detectors saw the smile there (40 of the shorter piece's 100 frames).
    dip = 100.0 * REST_SHARE * 0.5
    scores = {range(260, 300): dip, range(100, 400): 100.0}  # the first range holding a frame gives its score
    chain = chain_with_scores(scores, 420)
    assert chain._rested(event(100, 300), event(260, 360))  # the score alone says rest
    got = chain.take([event(100, 300), event(260, 360)], busy_from=None)
    assert [(e.onset_frame, e.offset_frame) for e in got] == [(100, 360)]


def test_a_short_overlap_with_a_return_to_rest_keeps_two_smiles_apart():
    # Sharing 5 of the shorter piece's 60 frames (under SHARED) with the score at rest there: a laugh,
    # then a brief re-intensification of the smile after it, two episodes.
    assert 5 < SHARED * 60
    dip = 100.0 * REST_SHARE * 0.5
    chain = chain_with_scores({range(295, 300): dip, range(100, 360): 100.0}, 420)
    got = chain.take([event(100, 300), event(295, 355)], busy_from=None)
    assert [(e.onset_frame, e.offset_frame) for e in got] == [(100, 300), (295, 355)]
    steady = chain_with_scores({range(100, 360): 100.0}, 420)  # no dip: the same two pieces are one smile
    got = steady.take([event(100, 300), event(295, 355)], busy_from=None)
    assert [(e.onset_frame, e.offset_frame) for e in got] == [(100, 355)]
