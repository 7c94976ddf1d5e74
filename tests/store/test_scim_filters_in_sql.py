"""Issue 27 §2: a SCIM user search asks the identifiant index first (identifiants and addresses, lower-case, in
SQL) and builds only the people it selects; the whole filter then runs on them. Proven here: for every filter
shape — those the index understands, those it only partly understands, those it cannot — the answer is the one
the old way gives (every resource of the scope built, then filtered); the caller's scope holds; and a national
`emails co` reads the partners of the people found, not the registry."""

from __future__ import annotations

from urllib.parse import quote

import pytest
from scim2_models import SearchRequest

from provisioning.scim import storage as st
from provisioning.store import uow as store
from tests.store.test_scim import get, names
from tests.store.test_scim import scim as scim
from tests.support.partner_reads import count_partner_reads

FILTERS = [
    'userName eq "lea.petit"', 'userName eq "LEA.PETIT"', 'id eq "paul.bernard"', 'userName co "AR"',
    'userName sw "b."', 'userName ew "martin"', 'emails co "hirondelles"', 'emails.value co "HIRONDELLES.example"',
    'emails eq "lea.petit@hirondelles.example"', 'emails sw "paul"', 'emails ew ".example"', 'emails co "%"',
    'emails co "_"', 'userName co "."', 'emails pr', 'userName pr and emails co "mairie"',
    'userName co "a" and name.familyName eq "Petit"', 'name.familyName eq "Petit" or userName eq "paul.bernard"',
    'userName eq "lea.petit" or emails co "mairie"', 'not (userName eq "lea.petit")',
    'emails[value co "hirondelles"]', 'name.givenName sw "L"',
    f'urn:mon-compte-partenaire:params:scim:schemas:extension:partenaire:2.0:User:siret eq "{"98765432100015"}"',
    'userName eq "nobody.here"', 'emails co "caf75"',  # a Caf administrator's address: not a partner's user
]


@pytest.mark.parametrize("who", ["caf", "lyon", "a", "national"])
def test_the_index_changes_no_answer(scim, who, monkeypatch):
    def answers() -> dict[str, list]:  # whole resources, meta (dates, versions) included, in their order
        return {f: get(scim, f"/Users?filter={quote(f)}&count=1000&sortBy=userName", who).json.get("Resources", [])
                for f in FILTERS}

    def pages() -> dict[str, dict]:  # a page counted, sorted and cut in SQL when the index answers exactly
        return {f: get(scim, f"/Users?filter={quote(f)}&count=2&startIndex=2&sortBy=userName&sortOrder=descending",
                       who).json for f in FILTERS}
    with_index, paged = answers(), pages()
    monkeypatch.setattr(st, "_candidates", lambda node: None)  # the old way: every resource of the scope
    assert with_index == answers()
    assert paged == pages()
    with_index = {f: sorted(x["userName"] for x in found) for f, found in with_index.items()}
    if who == "national":  # the comparison is not between two empty answers
        assert with_index['emails co "hirondelles"'] and with_index['userName sw "b."']


def test_the_scope_holds_through_the_index(scim):
    f = quote('emails co "hirondelles"')
    assert names(get(scim, f"/Users?filter={f}", "lyon")) == []  # another Caf's service
    assert set(names(get(scim, f"/Users?filter={f}", "a"))) >= {"lea.petit", "paul.bernard"}
    b = quote('userName eq "b.lea.petit"')  # the second partner's person, asked by partner A's service
    assert names(get(scim, f"/Users?filter={b}", "a")) == []


def test_a_national_emails_co_reads_only_the_partners_of_the_people_found(scim, monkeypatch):
    read = count_partner_reads(monkeypatch)
    monkeypatch.setattr(store.RegistryRepository, "load", lambda self: pytest.fail("the whole registry was read"))
    f = quote('emails sw "paul.bernard@"')
    r = get(scim, f"/Users?filter={f}", "national")
    assert names(r) == ["paul.bernard"] and read == ["12345678900015"]


def test_what_the_index_understands():
    def cond(f: str) -> str | None:
        c = st._candidates(SearchRequest(filter=f).filter.ast)
        return None if c is None else str(c.compile(compile_kwargs={"literal_binds": True}))
    assert "user_index.email LIKE '%' || 'a/%b' || '%' ESCAPE '/'" in cond('emails co "A%b"')  # % is a character
    assert cond('name.familyName eq "X"') is None and cond('not (userName eq "x")') is None
    assert cond('name.familyName eq "X" or userName eq "y"') is None  # one side unknown: no narrowing
    assert cond('name.familyName eq "X" and userName eq "Y"') == "user_index.identifiant = 'y'"
    assert cond('emails[value co "x"]') is None


@pytest.mark.parametrize("who", ["caf", "a", "national"])
def test_a_page_of_users_from_the_index_is_the_page_the_old_way_gives(scim, who, monkeypatch):
    pages = ["count=3", "count=2&startIndex=3", "count=2&startIndex=7", "count=50", "startIndex=2",
             "count=5&sortBy=userName&sortOrder=descending", "count=0", "count=3&sortOrder=descending"]

    def answers() -> list[tuple[int, list]]:
        out = []
        for q in pages:
            r = get(scim, f"/Users?{q}", who)
            out.append((r.json["totalResults"], r.json.get("Resources", [])))  # whole resources, meta included
        return out
    with_index = answers()
    monkeypatch.setattr(st, "_by_identifiant", lambda sort_by: False)  # the old way: every user built, sorted
    assert with_index == answers()
    assert with_index[0][0] > 3 and len(with_index[1][1]) == 2  # real pages, not empty ones
    assert [x["userName"] for x in with_index[1][1]] == sorted(x["userName"] for x in with_index[1][1])


@pytest.mark.parametrize("who", ["caf", "lyon", "a", "national"])
def test_a_page_of_groups_from_the_headers_is_the_page_the_old_way_gives(scim, who, monkeypatch):
    """Issue 27: /Groups counts each partner's groups from its header and builds only the page's; the answers
    (resources, meta, totals) are those of building every group of the scope, for every page shape."""
    shapes = ["/Groups", "/Groups?count=3", "/Groups?count=2&startIndex=3", "/Groups?count=4&sortOrder=descending",
              "/Groups?count=2&startIndex=2&sortBy=id", "/Groups?count=100&startIndex=500"]

    def answers() -> dict[str, dict]:
        return {shape: get(scim, shape, who).json for shape in shapes}
    paged = answers()
    monkeypatch.setattr(st, "_by_id", lambda sort_by: False)  # the old way: every group of the scope built
    assert paged == answers()
    if who == "national":
        assert paged["/Groups"]["totalResults"] > 4 and len(paged["/Groups?count=3"]["Resources"]) == 3
