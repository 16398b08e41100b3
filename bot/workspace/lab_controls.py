"""What the console can do to the world around the bot, beyond being a person in Slack: move
the schedules' clock on (`wait`) and plant a scenario in the lab tenant (`plant`).

Both act on the same Redis and lab file the console's bot uses, through the bot's own pieces:
the schedules' clock and store, `bot.flows.schedules.run_due` (the step the workers'
housekeeping takes every few seconds; its claim is atomic, so the two running together never
run a tick twice), and the lab's locked write path.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from bot.defender.lab.plant import SCENARIOS, Planted, plant
from bot.flows.schedules import run_due
from bot.services import Services
from bot.state.schedules import Schedule


@dataclass(frozen=True)
class Waited:
    now: datetime  # the schedules' clock after the wait
    ahead: timedelta  # how far it is ahead of the real time
    ran: list[Schedule]  # the schedules a tick fell due for (as they were before it ran)


class LabControls:
    def __init__(
        self, services: Services, lab_path: Path, places: Iterable[tuple[str, str]]
    ) -> None:
        self.services = services
        self.lab_path = lab_path
        self.places = list(places)  # (team, channel) pairs whose schedules the console shows

    @property
    def scenarios(self) -> dict[str, str]:
        """Each scenario the lab can plant, and what it is."""
        return {name: f"{s.about} ({s.hunt})" for name, s in SCENARIOS.items()}

    async def wait(self, span: timedelta) -> Waited:
        """Move the schedules' clock on by `span` and queue every tick that fell due (a
        schedule due several times over runs once, as after an outage)."""
        before = {s.id: s for s in await self._schedules()}
        now = await self.services.clock.advance(span)
        await run_due(self.services)
        after = await self._schedules()
        # Which ran is read from the store, not from run_due's answer: a worker's housekeeping
        # may have claimed a tick between the clock moving and run_due asking.
        ran = [
            before[s.id]
            for s in after
            if s.id in before and s.next_run_at != before[s.id].next_run_at
        ]
        return Waited(now, now - datetime.now(now.tzinfo), ran)

    async def last_runs(self, ids: Iterable[str]) -> list[Schedule]:
        """The schedules named, as they are now (those deleted meanwhile left out)."""
        wanted = set(ids)
        return [s for s in await self._schedules() if s.id in wanted]

    async def plant(self, name: str) -> Planted:
        return await asyncio.to_thread(plant, self.lab_path, name)

    async def _schedules(self) -> list[Schedule]:
        found: list[Schedule] = []
        for team, channel in self.places:
            found += await self.services.schedules.in_channel(team, channel)
        return found
