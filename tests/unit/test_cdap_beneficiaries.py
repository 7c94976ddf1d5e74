"""Issue 12 §2: synthetic CDAP beneficiaries for any partner, deterministic per Caf, scoped per partner."""

from sso_demo.cdap import beneficiaries as b

A, B = "12345678900015", "98765432100015"
NEW = "55566677700019"  # a partner that is in no hand-written demo data


def test_a_caf_always_gives_the_same_people_and_two_cafs_different_ones():
    assert b.of_caf("751") == b.of_caf("751")
    assert [p["nom"] for p in b.of_caf("751")] != [p["nom"] for p in b.of_caf("131")]
    assert all(p["numero"].startswith("7519") and p["numero"].isdigit() for p in b.of_caf("751"))
    assert len({p["numero"] for p in b.of_caf("751")}) == b.PER_CAF


def test_a_new_partner_finds_people_of_its_territory_and_nothing_outside_its_share():
    mine = b.examples(NEW, "751", count=50)
    assert len(mine) == 50
    assert all(b.find(NEW, "751", n)["numero"] == n for n in mine)
    theirs = [p["numero"] for p in b.of_caf("751") if not b.serves(NEW, p["numero"])]
    assert theirs and all(b.find(NEW, "751", n) is None for n in theirs)  # looks like an unknown number
    assert b.find(NEW, "131", mine[0]) is None  # another Caf's partner


def test_the_hand_written_demo_file_keeps_its_own_scope():
    served_by_a = next(x for x in b._demo_file() if A in x["partenaires"] and B not in x["partenaires"])
    assert b.find(A, "751", served_by_a["numero"]) == served_by_a
    assert b.find(B, "751", served_by_a["numero"]) is None
    assert b.find(NEW, "751", served_by_a["numero"]) is None


def test_odd_caf_codes_still_give_digit_numbers():
    assert all(p["numero"].isdigit() for p in b.of_caf("2A"))
