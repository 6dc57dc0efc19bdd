"""Several people in the frame: the tracker follows the largest, most central person and keeps following them.
Scenes are built from two real photos pasted side by side at different sizes and positions."""

from __future__ import annotations

import numpy as np
import pytest

from avatar.types import LM

BODY = [LM[n] for n in ("left_shoulder", "right_shoulder", "left_hip", "right_hip", "nose")]


@pytest.fixture(scope="module")
def photos(shared_data):
    from avatar.tracking import load_image

    d = shared_data / "tryon-photos" / "persons"
    return load_image(d / "ootd__model_4.png"), load_image(d / "ootd__model_7.png")


def scene(people, size=(960, 540)):
    """Paste (photo, centre x as a fraction of the width, height as a fraction of the frame) bottom-aligned on a
    plain wall; returns the frame and each photo's pasted box (x0, y0, x1, y1) in pixels."""
    import cv2

    w, h = size
    frame = np.full((h, w, 3), (150, 140, 130), np.uint8)
    boxes = []
    for img, cx, hfrac in people:
        ph = int(h * hfrac)
        pw = int(img.shape[1] * ph / img.shape[0])
        x0 = int(cx * w - pw / 2)
        frame[h - ph :, x0 : x0 + pw] = cv2.resize(img, (pw, ph), interpolation=cv2.INTER_AREA)
        boxes.append((x0, h - ph, x0 + pw, h))
    return frame, boxes


def on(tr, box, margin_px=5):
    x0, y0, x1, _ = box
    p = tr.landmarks_px[BODY]
    return bool(((p[:, 0] > x0 - margin_px) & (p[:, 0] < x1 + margin_px) & (p[:, 1] > y0 - margin_px)).all())


def test_still_photo_picks_the_largest_most_central_person(photos):
    from avatar.tracking import Tracker

    woman, man = photos
    # the larger person left of centre, a smaller one right; and mirrored with the roles swapped
    cases = [
        ([(woman, 0.33, 1.0), (man, 0.8, 0.7)], 0),
        ([(woman, 0.2, 0.65), (man, 0.6, 0.95)], 1),
    ]
    with Tracker(video=False) as t:
        for people, want in cases:
            frame, boxes = scene(people)
            tr = t.track(frame)
            assert tr.present and tr.people_in_view == 2
            assert on(tr, boxes[want]), (tr.landmarks_px[BODY], boxes)
            assert not on(tr, boxes[1 - want])
            # the mask is the chosen person's: nothing of the other one
            x0, y0, x1, y1 = boxes[1 - want]
            assert tr.mask is not None and tr.mask[y0:y1, x0:x1].mean() < 0.05
            assert tr.mask[boxes[want][1] : boxes[want][3], boxes[want][0] : boxes[want][2]].mean() > 0.2
    # same size, same distance from the centre: the pick is deterministic (same answer every time)
    frame, boxes = scene([(woman, 0.3, 0.9), (man, 0.7, 0.9)])
    picks = []
    for _ in range(2):
        with Tracker(video=False) as t:
            tr = t.track(frame)
            picks.append(0 if on(tr, boxes[0]) else 1 if on(tr, boxes[1]) else -1)
    assert picks[0] in (0, 1) and picks[0] == picks[1]


def test_video_keeps_following_the_first_pick_when_a_larger_person_arrives(photos):
    from avatar.tracking import ALONE_CHECK_EVERY, Tracker

    woman, man = photos
    alone, (box_man,) = scene([(man, 0.72, 0.7)])
    crowd, (_, box_man2) = scene([(woman, 0.35, 1.0), (man, 0.72, 0.7)])
    assert box_man == box_man2
    seq = [alone] * 4 + [crowd] * 8
    with Tracker(video=True) as t:
        trs = [t.track(f, timestamp_ms=i * 33.0) for i, f in enumerate(seq)]
    assert all(tr.present for tr in trs)
    # the woman is larger and more central, but the man was there first: no switch
    assert all(on(tr, box_man) for tr in trs), [tr.landmarks_px[LM["left_shoulder"]] for tr in trs]
    # with one person in view the video tracker looks for others every ALONE_CHECK_EVERY frames only
    assert all(tr.people_in_view == 2 for tr in trs[4 + ALONE_CHECK_EVERY :])
    # when he leaves, the tracker moves on to her
    only_her, (box_her,) = scene([(woman, 0.35, 1.0)])
    with Tracker(video=True) as t:
        for i, f in enumerate(seq + [only_her] * 3):
            tr = t.track(f, timestamp_ms=i * 33.0)
    assert on(tr, box_her)


def test_selection_can_be_switched_off(photos):
    from avatar.tracking import Tracker

    woman, man = photos
    frame, boxes = scene([(woman, 0.33, 1.0), (man, 0.8, 0.7)])
    with Tracker(video=False, select_person=False) as t:
        tr = t.track(frame)
    assert tr.present and tr.people_in_view == 1
    assert on(tr, boxes[0]) or on(tr, boxes[1])


def test_video_crowd_reuses_the_hide_mask_between_checks(photos):
    """With several people in view the video selector segments every CROWD_CHECK_EVERY-th frame only; the frames
    in between are painted with the last check's hide mask, grown enough to cover some motion."""
    from avatar.tracking import ALONE_CHECK_EVERY, CROWD_CHECK_EVERY, PersonSelector

    woman, man = photos
    n = CROWD_CHECK_EVERY
    assert n > 1
    frame, (box_her, box_him) = scene([(woman, 0.35, 1.0), (man, 0.72, 0.7)])

    def changed(out, src, box):
        x0, y0, x1, y1 = box
        return (out[y0:y1, x0:x1] != src[y0:y1, x0:x1]).any(-1).mean()

    sel = PersonSelector(ALONE_CHECK_EVERY, n)
    try:
        outs, checks = [], []
        for _ in range(2 * n + 1):
            outs.append(sel.select(frame))
            checks.append(sel.checks)
        assert checks == [1 + i // n for i in range(2 * n + 1)]
        assert sel.people == 2
        # he is painted out on every frame, checked or not; she is left alone; the input is not touched
        assert changed(outs[0], frame, box_him) > 0.3 and changed(outs[0], frame, box_her) < 0.02
        assert all(np.array_equal(o, outs[0]) for o in outs[1:])
        assert not np.shares_memory(outs[1], frame) and changed(frame, outs[0], box_him) > 0.3
        # he steps aside by 1% of the frame between checks: the reused mask still covers where a check would paint
        moved, _ = scene([(woman, 0.35, 1.0), (man, 0.73, 0.7)])
        out = sel.select(moved)
        assert sel.checks == checks[-1]
        fresh = PersonSelector()
        try:
            want = (fresh.select(moved) != moved).any(-1)
        finally:
            fresh.close()
        assert want.sum() > 1000 and (out != moved).any(-1)[want].mean() > 0.97
        # recheck() (the Tracker calls it when Pose loses its person) makes the very next frame a check
        sel.recheck()
        sel.select(frame)
        assert sel.checks == checks[-1] + 1
    finally:
        sel.close()


def test_video_crowd_checks_again_as_soon_as_pose_loses_its_person(photos):
    from avatar.tracking import CROWD_CHECK_EVERY, Tracker

    woman, man = photos
    crowd, (box_her, _) = scene([(woman, 0.35, 1.0), (man, 0.72, 0.7)])
    empty, _ = scene([])
    assert CROWD_CHECK_EVERY > 2
    with Tracker(video=True) as t:
        tr = t.track(crowd, timestamp_ms=0.0)
        assert tr.present and on(tr, box_her) and t._selector.checks == 1
        assert not t.track(empty, timestamp_ms=33.0).present  # a skipped frame, painted with the old mask
        tr = t.track(crowd, timestamp_ms=66.0)  # would be skipped too, but Pose lost her: segment again
        assert t._selector.checks == 2 and tr.present and on(tr, box_her)
