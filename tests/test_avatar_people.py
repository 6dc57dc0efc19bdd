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
