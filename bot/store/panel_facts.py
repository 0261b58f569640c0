"""Panel facts: what the bot learnt about a panel from its answers (an action it lacks, a
type it wants differently), shared by every process; see bot/domain/capabilities.py."""

from __future__ import annotations

from sqlmodel import col, select

from bot.store.engine import StoreEngine, upsert
from bot.store.models import PanelFact, metadata, utcnow

__all__ = ["PANEL_FACTS", "PanelFactsRoom"]

PANEL_FACTS = metadata.tables["panel_facts"]


class PanelFactsRoom(StoreEngine):
    """One row per panel and fact."""

    async def panel_facts(self, panel_url: str) -> list[PanelFact]:
        """Everything learnt about one panel (a handful of rows)."""
        async with self._read() as s:
            return list((await s.exec(select(PanelFact).where(col(PanelFact.panel_url) == panel_url))).all())

    async def learn_panel_fact(self, panel_url: str, name: str, detail: str | None = None) -> None:
        """Record (or refresh the date of) one fact about a panel."""
        now = utcnow()
        statement = (
            upsert(self.dialect, PANEL_FACTS)
            .values(panel_url=panel_url, name=name, learnt_at=now, detail=detail)
            .on_conflict_do_update(index_elements=["panel_url", "name"], set_={"learnt_at": now, "detail": detail})
        )
        async with self.session() as s:
            await s.exec(statement)

    async def forget_panel_fact(self, panel_url: str, name: str) -> bool:
        """The panel showed the opposite (an action it was thought to lack answered)."""
        statement = PANEL_FACTS.delete().where(PANEL_FACTS.c.panel_url == panel_url, PANEL_FACTS.c.name == name)
        async with self.session() as s:
            return int((await s.exec(statement)).rowcount) > 0
