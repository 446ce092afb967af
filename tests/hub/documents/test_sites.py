"""Documents uploaded with ``site``: only that site's users see them (and analysts, admins); others get 404.

Documents without site stay visible to every signed-in caller. The hub runs with the recording
chunk index (the documents/rag seam); retrieval's scoping is tested in ``tests/hub/rag``.
"""

from __future__ import annotations

from typing import Any

from support.documents import DocsHub
from support.hub import admin_key, bearer, migrated_pool, site_callers


async def upload(hub: DocsHub, name: str, text: str, headers: dict[str, str] | None = None, **form: str) -> Any:
    return await hub.client.post("/documents", files={"file": (name, text.encode())}, data=form, headers=headers)


async def test_a_site_s_document_is_404_to_users_of_other_sites(docs_hub: DocsHub) -> None:
    callers = await site_callers(docs_hub.dsn, "villa-a", "villa-b")
    own, other, analyst = callers.own, callers.foreign, callers.analyst
    sited = await upload(docs_hub, "alpha.md", "# Alpha\n\nVilla A.\n", document_id="alpha", site="villa-a")
    assert sited.status_code == 202, sited.text
    assert (await upload(docs_hub, "common.md", "# Common\n\nFor all.\n", document_id="common")).status_code == 202
    assert (await docs_hub.wait_for_job("alpha"))["job"]["state"] == "done"
    assert (await docs_hub.wait_for_job("common"))["job"]["state"] == "done"

    def listed(response: Any) -> dict[str, str | None]:
        assert response.status_code == 200, response.text
        return {d["document_id"]: d["site"] for d in response.json()}

    assert listed(await docs_hub.client.get("/documents", headers=own)) == {"alpha": "villa-a", "common": None}
    assert listed(await docs_hub.client.get("/documents", headers=analyst)) == {"alpha": "villa-a", "common": None}
    assert listed(await docs_hub.client.get("/documents", headers=other)) == {"common": None}
    for path in ("/documents/alpha", "/documents/alpha/file"):
        assert (await docs_hub.client.get(path, headers=own)).status_code == 200
        hidden = await docs_hub.client.get(path, headers=other)
        missing = await docs_hub.client.get(path.replace("alpha", "no-such-doc"), headers=other)
        assert hidden.status_code == missing.status_code == 404
        assert hidden.json()["detail"] == "no document alpha"  # the same answer as for a document that is not there
    assert (await docs_hub.client.get("/documents/alpha")).json()["site"] == "villa-a"
    assert (await docs_hub.client.get("/documents/common", headers=other)).status_code == 200


async def test_an_uploader_limited_to_sites_uploads_only_for_those_and_not_into_others_documents(
    docs_hub: DocsHub,
) -> None:
    async with migrated_pool(docs_hub.dsn) as pool:
        limited = bearer(await admin_key(pool, "analyst", ["villa-a"]))
    refused = await upload(docs_hub, "b.md", "# B\n\nOf villa B.\n", limited, site="villa-b")
    assert refused.status_code == 403
    assert refused.json()["detail"] == "site 'villa-b' is not one of yours"
    theirs = await upload(docs_hub, "b.md", "# B\n\nOf villa B.\n", document_id="beta", site="villa-b")
    assert theirs.status_code == 202
    await docs_hub.wait_for_job("beta")
    into = await upload(docs_hub, "b2.md", "# B\n\nVersion two.\n", limited, document_id="beta")
    assert into.status_code == 404  # as if it were not there
    assert (await docs_hub.client.delete("/documents/beta", headers=limited)).status_code == 404
    assert (await docs_hub.client.get("/documents/beta")).json()["current_version"] == 1
    assert (await upload(docs_hub, "a.md", "# A\n\nOf villa A.\n", limited, site="villa-a")).status_code == 202


async def test_versions_keep_the_document_s_site_and_the_same_bytes_are_per_site(docs_hub: DocsHub) -> None:
    first = await upload(docs_hub, "g.md", "# Gamma\n\nOne.\n", document_id="gamma", site="villa-a")
    assert first.status_code == 202
    await docs_hub.wait_for_job("gamma")
    moved = await upload(docs_hub, "g.md", "# Gamma\n\nTwo.\n", document_id="gamma", site="villa-b")
    assert moved.status_code == 409
    assert moved.json()["detail"].startswith("document gamma belongs to site 'villa-a'")
    kept = await upload(docs_hub, "g.md", "# Gamma\n\nTwo.\n", document_id="gamma")
    assert kept.status_code == 202
    await docs_hub.wait_for_job("gamma")
    detail = (await docs_hub.client.get("/documents/gamma")).json()
    assert (detail["current_version"], detail["site"]) == (2, "villa-a")
    again = await upload(docs_hub, "g.md", "# Gamma\n\nTwo.\n", site="villa-a")
    assert (again.status_code, again.json()["document_id"]) == (200, "gamma")  # the same bytes at the same site
    elsewhere = await upload(docs_hub, "g.md", "# Gamma\n\nTwo.\n", site="villa-b")
    assert elsewhere.status_code == 202  # not the other site's document: a document of its own
    assert elsewhere.json()["document_id"] != "gamma"
    await docs_hub.wait_for_job(elsewhere.json()["document_id"])
    bad = await upload(docs_hub, "x.md", "# X\n", site="no such site")
    assert bad.status_code == 400
