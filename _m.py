import random, datetime
from mailbox.testing import seed
rng=random.Random(3); user=seed._user("demo@example.com")
pl=seed._Planner(rng,user,datetime.datetime(2025,1,1,tzinfo=datetime.UTC),seed.DEFAULT_FOLDERS)
specs=pl.plan(200000)
thread=[s for s in specs if s.parent is not None or s.children]
print("thread frac", len(thread)/len(specs), "user frac in thread", sum(s.author is user for s in thread)/len(thread))
print("replies", sum(s.parent is not None for s in specs)/len(specs))
