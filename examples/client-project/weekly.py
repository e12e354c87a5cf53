"""The report as a plain script, the way it runs from cron or a notebook: no main guard, no
configuration. ``vilvik-emulator exec -- python weekly.py`` runs it against an emulator."""

from weekly_report import best_stops, plan_this_week, recent_run_names

run = plan_this_week(seed=3)
print("stops:", best_stops(run, poll_interval=0.1))
print("runs:", recent_run_names())
