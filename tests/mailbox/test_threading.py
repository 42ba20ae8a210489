"""The conversation planner (mailbox.parsing.threading): pure, no database."""

import datetime

from mailbox.parsing.threading import (
    Known,
    Mail,
    id_key,
    keys_of,
    normalize_subject,
    plan,
    subject_key,
)

DAY = datetime.timedelta(days=1)
T0 = datetime.datetime(2026, 11, 2, 9, 0, tzinfo=datetime.UTC)


def mail(message_id, subject="Quick question", *, refs=(), reply_to="", at=T0):
    return Mail.of(message_id, reply_to, " ".join(refs), subject, at)


def alone(index, _mail):
    return 1000 + index


class Store:
    """The key table, as the database would keep it between batches."""

    def __init__(self):
        self.keys = {}

    def cache(self, *mails):
        wanted = {key for item in mails for key in keys_of(item)}
        known = {key: entry for key, entry in self.keys.items() if key in wanted}
        start = 1000 + 100 * len(self.keys)
        result = plan(list(mails), known, lambda index, _mail: start + index)
        self.keys.update(result.new_keys)
        self.keys.update(result.changed_keys)
        for key, entry in self.keys.items():
            if entry.thread in result.merges:
                self.keys[key] = Known(result.merges[entry.thread], entry.date)
        return result


def test_prefixes_and_list_tags_are_removed_and_a_reply_is_noticed():
    assert normalize_subject("Re: AW: [dev] Fwd:  Quick  Question") == ("quick question", True)
    assert normalize_subject("RE[2]: Budget") == ("budget", True)
    assert normalize_subject("[dev] Budget") == ("budget", False)
    assert normalize_subject("Regarding the budget") == ("regarding the budget", False)
    assert normalize_subject("Re: " * 500 + "x")[1] is True


def test_a_reply_chain_is_one_conversation():
    result = plan(
        [
            mail("a@x"),
            mail("b@x", "Re: Quick question", refs=["a@x"], reply_to="a@x", at=T0 + DAY),
            mail("c@x", "Re: Quick question", refs=["a@x", "b@x"], at=T0 + 2 * DAY),
        ],
        {},
        alone,
    )
    assert result.threads == [1000, 1000, 1000]
    assert result.new_keys[id_key("b@x")].thread == 1000


def test_a_reply_cached_before_its_parent_takes_the_parent_in():
    store = Store()
    child = store.cache(mail("b@x", "Re: Quick question", reply_to="a@x", at=T0 + DAY))
    parent = store.cache(mail("a@x"))
    assert parent.threads == child.threads


def test_a_reply_without_references_joins_by_its_prefixed_subject():
    store = Store()
    first = store.cache(mail("a@x", "Quick question about the migration"))
    reply = store.cache(mail("b@y", "Re: Quick question about the migration", at=T0 + 3 * DAY))
    assert reply.threads == first.threads


def test_the_same_subject_without_a_prefix_stays_apart():
    store = Store()
    first = store.cache(mail("a@x", "Lunch"))
    other = store.cache(mail("b@y", "Lunch", at=T0 + DAY))
    assert other.threads != first.threads


def test_a_prefixed_subject_long_after_the_conversation_starts_a_new_one():
    store = Store()
    first = store.cache(mail("a@x", "Invoice"))
    late = store.cache(mail("b@y", "Re: Invoice", at=T0 + 90 * DAY))
    assert late.threads != first.threads


def test_a_reply_with_references_never_joins_by_subject():
    store = Store()
    first = store.cache(mail("a@x", "Invoice"))
    reply = store.cache(mail("c@y", "Re: Invoice", reply_to="elsewhere@z", at=T0 + DAY))
    assert reply.threads != first.threads


def test_a_later_message_merges_two_conversations_into_the_stored_smaller_one():
    store = Store()
    one = store.cache(mail("b@x", "Re: Plan", reply_to="a@x", at=T0 + DAY))
    two = store.cache(mail("c@x", "Re: Plan", refs=["z@x"], at=T0 + 2 * DAY))
    assert one.threads != two.threads
    bridge = store.cache(mail("d@x", "Re: Plan", refs=["a@x", "z@x"], at=T0 + 3 * DAY))
    smaller = min(one.threads[0], two.threads[0])
    larger = max(one.threads[0], two.threads[0])
    assert bridge.threads == [smaller]
    assert bridge.merges == {larger: smaller}
    assert store.keys[id_key("z@x")].thread == smaller


def test_links_inside_one_batch_are_followed_whatever_the_order():
    result = plan(
        [
            mail("c@x", "Re: Plan", refs=["a@x", "b@x"], at=T0 + 2 * DAY),
            mail("b@x", "Re: Plan", reply_to="a@x", at=T0 + DAY),
            mail("a@x", "Plan"),
            mail("q@y", "Re: Plan", at=T0 + 4 * DAY),  # no references: by subject
            mail("u@y", "Other"),
        ],
        {},
        alone,
    )
    assert result.threads[:4] == [1000] * 4
    assert result.threads[4] == 1004
    assert result.new_keys[subject_key("plan")] == Known(1000, T0 + 4 * DAY)


def test_a_long_chain_cached_newest_first_stays_one_conversation():
    store = Store()
    ids = [f"{n}@x" for n in range(8)]
    results = [
        store.cache(mail(ids[n], "Re: Plan", refs=ids[:n], at=T0 + n * DAY))
        for n in range(7, 0, -1)
    ]
    results.append(store.cache(mail(ids[0], "Plan")))
    assert len({result.threads[0] for result in results}) == 1
