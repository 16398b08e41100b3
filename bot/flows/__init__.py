"""One module per journey: the rules of hunting, taking actions, approving and incidents.

Listeners (commands/*) and jobs (bot.jobs) call the same flows. A flow uses the stores
(bot.state), the Microsoft side (bot.defender), the catalog (bot.hunts) and the Slack renderers
(bot.slack); it never reads a Slack payload.
"""
