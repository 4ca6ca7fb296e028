"""Admin analytics over 1,000,000 messages on PostgreSQL.

Seeds a throwaway database in SQL (1,000 students in 20 sections, 50,000 sessions over 90
days, 20 messages each, a UsageRecord per reply, error events and feedback), builds the
daily rollup the way migration 0003 does, then times each analytics query through the
whole app (ASGI, GraphQL) as an admin and as a teacher. Prints one line: the p50 of each
query, the slowest p50 first (target: every p50 <= 50 ms).

    .venv/bin/python bench/analytics_queries.py [--sessions 50000] [--repeat 30]
"""

from __future__ import annotations

import argparse
import asyncio
import secrets
import statistics
import time
from datetime import UTC, datetime, timedelta

import asyncpg
from _common import PG_ADMIN, AsgiClient, bench_settings, percentile

from api.accounts.models import Role
from api.accounts.security import issue_token
from api.app import create_app
from api.db.migrate import upgrade
from api.usage.rollup import rebuild_sql

MESSAGES_PER_SESSION = 20
STUDENTS, TEACHERS, DAYS = 1000, 20, 90

SEED = """
INSERT INTO users (id, email, name, role, password_hash, active, created_at)
SELECT gen_random_uuid(), 'teacher' || g || '@bench.test', 'Teacher ' || g, 'TEACHER', 'x',
       true, now()
FROM generate_series(0, {teachers} - 1) g;
INSERT INTO users (id, email, name, role, password_hash, active, created_at)
SELECT gen_random_uuid(), 'student' || g || '@bench.test', 'Student ' || g, 'STUDENT', 'x',
       true, now()
FROM generate_series(0, {students} - 1) g;
INSERT INTO users (id, email, name, role, password_hash, active, created_at)
VALUES (gen_random_uuid(), 'admin@bench.test', 'Admin', 'ADMIN', 'x', true, now());

CREATE TEMP TABLE t AS
SELECT id, (regexp_match(email, '\\d+'))[1]::int AS n FROM users WHERE role = 'TEACHER';
CREATE TEMP TABLE s AS
SELECT id, (regexp_match(email, '\\d+'))[1]::int AS n FROM users WHERE role = 'STUDENT';

INSERT INTO sections (id, teacher_id, name, join_code, created_at)
SELECT gen_random_uuid(), id, 'Section ' || n, 'B' || lpad(n::text, 7, '0'), now() FROM t;
CREATE TEMP TABLE sec AS
SELECT sections.id, t.n FROM sections JOIN t ON t.id = sections.teacher_id;

INSERT INTO client_profiles (id, owner_id, name, age, background, presenting_concern,
    personality_traits, communication_style, difficulty, learning_goals, boundaries,
    opening_line, model, archived, version, updated_at, created_at)
SELECT gen_random_uuid(), t.id, 'Client ' || t.n || '-' || k, 40, 'b', 'c', '[]', 's', 3,
       'g', 'x', 'o', NULL, false, 1, now(), now()
FROM t CROSS JOIN generate_series(0, 1) k;
CREATE TEMP TABLE prof AS
SELECT p.id, t.n * 2 + row_number() OVER (PARTITION BY t.n ORDER BY p.name) - 1 AS n
FROM client_profiles p JOIN t ON t.id = p.owner_id;

INSERT INTO assignments (id, section_id, title, instructions, status, published_at, created_at)
SELECT gen_random_uuid(), id, 'Assignment ' || n, '', 'PUBLISHED', now(), now() FROM sec;
CREATE TEMP TABLE asg AS
SELECT a.id, a.section_id, sec.n FROM assignments a JOIN sec ON sec.id = a.section_id;
INSERT INTO assignment_clients (assignment_id, client_profile_id)
SELECT asg.id, prof.id FROM asg JOIN prof ON prof.n / 2 = asg.n;

INSERT INTO enrollments (id, section_id, student_id, created_at)
SELECT gen_random_uuid(), sec.id, s.id, now() FROM s JOIN sec ON sec.n = s.n % {teachers};

-- Sessions k: student k % students, in that student's section; 1,000 still active.
INSERT INTO sessions (id, student_id, client_profile_id, client_profile_version,
    assignment_id, section_id, status, model, message_count, input_tokens, output_tokens,
    cache_write_tokens, cache_read_tokens, estimated_cost, started_at, ended_at)
SELECT gen_random_uuid(), s.id, prof.id, 1, asg.id, asg.section_id,
       CASE WHEN k < {students} THEN 'ACTIVE' ELSE 'COMPLETED' END,
       CASE WHEN k % 5 = 0 THEN 'claude-sonnet-4-6' ELSE 'claude-haiku-4-5' END,
       {per_session}, 0, 0, 0, 0, 0, started,
       CASE WHEN k < {students} THEN NULL ELSE started + interval '20 minutes' END
FROM (
    SELECT k, now() - interval '1 hour' - (k % {days}) * interval '1 day'
           - (k % 3600) * interval '1 second' AS started
    FROM generate_series(0, {sessions} - 1) k
) AS g
JOIN s ON s.n = k % {students}
JOIN asg ON asg.n = (k % {students}) % {teachers}
JOIN prof ON prof.n = ((k % {students}) % {teachers}) * 2 + k % 2;

INSERT INTO messages (id, session_id, sequence_number, role, content, status, token_count,
    token_count_estimated, is_fallback, created_at, completed_at)
SELECT gen_random_uuid(), sessions.id, seq,
       CASE WHEN seq % 2 = 1 THEN 'USER' ELSE 'ASSISTANT' END,
       'A message of a practice conversation, about as long as a short reply.', 'COMPLETE',
       60, false, false, started_at + seq * interval '30 seconds',
       started_at + seq * interval '30 seconds'
FROM sessions CROSS JOIN generate_series(1, {per_session}) seq;

INSERT INTO usage_records (id, session_id, message_id, user_id, provider, model, outcome,
    input_tokens, output_tokens, cache_write_tokens, cache_read_tokens, estimated, cost,
    ttft_ms, latency_ms, attempts, created_at)
SELECT gen_random_uuid(), m.session_id, m.id, ss.student_id, 'anthropic', ss.model, 'COMPLETE',
       200, 60, CASE WHEN m.sequence_number = 2 THEN 1200 ELSE 0 END,
       CASE WHEN m.sequence_number = 2 THEN 0 ELSE 1200 + m.sequence_number * 40 END, false,
       -- nano-dollars: Haiku $1 in / $5 out / $1.25 write / $0.10 read per million tokens
       (CASE WHEN ss.model = 'claude-haiku-4-5' THEN 1 ELSE 3 END) * (
           200 * 1000 + 60 * 5000
           + CASE WHEN m.sequence_number = 2 THEN 1200 * 1250
                  ELSE (1200 + m.sequence_number * 40) * 100 END),
       300 + (m.sequence_number * 37) % 400, 1500, 1, m.created_at
FROM messages m JOIN sessions ss ON ss.id = m.session_id WHERE m.role = 'ASSISTANT';

UPDATE sessions SET input_tokens = u.i, output_tokens = u.o, cache_write_tokens = u.w,
    cache_read_tokens = u.r, estimated_cost = u.c
FROM (SELECT session_id, sum(input_tokens) i, sum(output_tokens) o, sum(cache_write_tokens) w,
             sum(cache_read_tokens) r, sum(cost) c
      FROM usage_records GROUP BY session_id) u
WHERE u.session_id = sessions.id;

INSERT INTO error_events (id, category, message, upstream_status, model, session_id, user_id,
    details, created_at)
SELECT gen_random_uuid(),
       CASE WHEN k % 3 = 0 THEN 'provider.overloaded' ELSE 'provider.rate_limited' END,
       'upstream refused', CASE WHEN k % 3 = 0 THEN 529 ELSE 429 END, model, id, student_id,
       '{{}}', started_at + interval '1 minute'
FROM (SELECT sessions.*, row_number() OVER () k FROM sessions) x WHERE k % 10 = 0;

INSERT INTO session_feedback (id, session_id, student_id, rating, comment, created_at)
SELECT gen_random_uuid(), id, student_id, 1 + (abs(hashtext(id::text)) % 5), '', ended_at
FROM sessions WHERE status = 'COMPLETED' AND abs(hashtext(id::text)) % 3 = 0;
"""

QUERIES = {
    "usageSummary": "query($r: DateRangeInput!) { usageSummary(range: $r) { sessions "
    "completedSessions totals { messages totalTokens cost cacheReadShare } "
    "averageCostPerCompletedSession medianCostPerCompletedSession } }",
    **{
        f"usage({group})": "query($r: DateRangeInput!) { usage(range: $r, groupBy: "
        + group
        + ") { key label sessions totals { messages totalTokens cost } } }"
        for group in ("DAY", "MODEL", "STUDENT", "SECTION", "CLIENT", "ASSIGNMENT")
    },
    "dailyStats": "query($r: DateRangeInput!) { dailyStats(range: $r) { day sessionsCreated "
    "messagesStored tokensUsed cost errors } }",
    "clientFeedback": "query($r: DateRangeInput!) { clientFeedback(range: $r) { clientName "
    "ratings averageRating positiveShare } }",
    "errorEvents": 'query { errorEvents(first: 50, filter: {category: "provider"}) '
    "{ edges { node { category createdAt } } pageInfo { endCursor } } }",
}


async def seed(url: str, sessions: int) -> None:
    connection = await asyncpg.connect(url.replace("+asyncpg", ""))
    try:
        sql = SEED.format(
            teachers=TEACHERS,
            students=STUDENTS,
            sessions=sessions,
            days=DAYS,
            per_session=MESSAGES_PER_SESSION,
        )
        await connection.execute(sql)
        await connection.execute(rebuild_sql("postgresql"))
        await connection.execute("VACUUM ANALYZE")
    finally:
        await connection.close()


async def _ids(url: str) -> tuple[str, str]:
    connection = await asyncpg.connect(url.replace("+asyncpg", ""))
    try:
        admin = await connection.fetchval("SELECT id FROM users WHERE role = 'ADMIN'")
        teacher = await connection.fetchval(
            "SELECT id FROM users WHERE email = 'teacher0@bench.test'"
        )
        counts = await connection.fetchrow(
            "SELECT (SELECT count(*) FROM messages) m, (SELECT count(*) FROM usage_records) u, "
            "(SELECT count(*) FROM daily_usage) d"
        )
    finally:
        await connection.close()
    print(
        f"seeded {counts['m']:,} messages, {counts['u']:,} usage records, "
        f"{counts['d']:,} rollup rows",
        flush=True,
    )
    return admin, teacher


async def main(sessions: int, repeat: int) -> None:
    name = f"practicum_bench_{secrets.token_hex(4)}"
    admin_db = await asyncpg.connect(PG_ADMIN)
    await admin_db.execute(f'CREATE DATABASE "{name}"')
    url = f"postgresql+asyncpg://postgres@127.0.0.1:5432/{name}"
    try:
        await asyncio.to_thread(upgrade, url)
        started = time.perf_counter()
        await seed(url, sessions)
        print(f"seeding took {time.perf_counter() - started:.0f} s", flush=True)
        admin_id, teacher_id = await _ids(url)
        settings = bench_settings(url)
        app = create_app(settings)
        client = AsgiClient(app)
        secret = settings.signing_secret()
        tokens = {
            "admin": issue_token_for(admin_id, Role.ADMIN, secret),
            "teacher": issue_token_for(teacher_id, Role.TEACHER, secret),
        }
        today = datetime.now(UTC).date()
        ranges = {
            "30d": {"start": str(today - timedelta(days=29)), "end": str(today)},
            "90d": {"start": str(today - timedelta(days=DAYS - 1)), "end": str(today)},
        }
        results: dict[str, float] = {}
        for who, token in tokens.items():
            for span, days in ranges.items():
                for label, query in QUERIES.items():
                    if label == "errorEvents" and span == "90d":
                        continue
                    body = {"query": query, "variables": {"r": days} if "$r" in query else {}}
                    timings = []
                    for n in range(repeat + 3):
                        began = time.perf_counter()
                        answer = await client.post(body, token)
                        elapsed = (time.perf_counter() - began) * 1000
                        assert "errors" not in answer, answer
                        if n >= 3:  # warm-up
                            timings.append(elapsed)
                    results[f"{who} {label} {span}"] = statistics.median(timings)
                    results[f"{who} {label} {span} p95"] = percentile(timings, 0.95)
        await app.state.runtime.close()
    finally:
        await admin_db.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin_db.close()
    medians = {k: v for k, v in results.items() if not k.endswith("p95")}
    slowest = sorted(medians.items(), key=lambda kv: -kv[1])
    worst_p95 = max(v for k, v in results.items() if k.endswith("p95"))
    print(
        f"analytics over {sessions * MESSAGES_PER_SESSION:,} messages (PostgreSQL, GraphQL "
        f"through the app, {repeat} runs each): slowest p50 {slowest[0][1]:.1f} ms "
        f"({slowest[0][0]}), worst p95 {worst_p95:.1f} ms, target p50 <= 50 ms; all p50: "
        + ", ".join(f"{k} {v:.1f}" for k, v in slowest)
    )


def issue_token_for(user_id, role: Role, secret: str) -> str:
    from api.accounts.security import Actor

    token, _ = issue_token(Actor(user_id, role), secret, timedelta(hours=1))
    return token


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sessions", type=int, default=50_000)
    parser.add_argument("--repeat", type=int, default=30)
    args = parser.parse_args()
    asyncio.run(main(args.sessions, args.repeat))
