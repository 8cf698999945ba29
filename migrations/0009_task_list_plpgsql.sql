-- A page of the task list as one PL/pgSQL function, so that its statement is planned once per
-- pooled connection instead of on every request (see 0008: Spin prepares an unnamed statement
-- per `query`). Until now the list statement was assembled per request from the filters, the
-- sort and the cursor; planning was about 45% of its PostgreSQL time (pgbench, 8 clients:
-- 4,436 tx/s with -M extended vs 7,902 with -M prepared).
--
-- An ORDER BY cannot take a parameter, and the keyset condition must be a plain row comparison
-- for the index of the sort to answer it as a range, so the body has one static statement per
-- sort key, direction and kind of cursor (none, after a key; for the due date also after a task
-- without one): 22 statements, generated below from one template so that they cannot drift
-- apart. PL/pgSQL plans each of them the first time a connection runs it.
--
-- The filters are written `p IS NULL OR ...` so that one statement serves every combination.
-- Their plans are generic (`plan_cache_mode = force_generic_plan`: a custom plan would be
-- planned per call again). A generic plan estimates every optional filter as selective, so the
-- product of their estimates is about one row and the planner would then prefer reading every
-- task of the table and sorting them (measured: 23 tx/s). `enable_sort = off` rules that out:
-- the plan walks the user's index of the sort in order and stops after `p_limit + 1` matching
-- tasks, which is what keyset paging is for. The due date puts tasks without one last in both
-- directions, which no index order gives in the descending one, so its statements read the
-- dated and the undated tasks as two index ranges and sort those (at most two pages; see
-- below). Such a plan carries the penalty of `enable_sort = off` in its cost, far beyond the
-- JIT thresholds, and compiling took longer than running (358 ms for a 1 ms page), hence
-- `jit = off`; a page is never worth parallel workers either.
--
-- A tags filter is the exception: the GIN index of tags answers a rare tag far faster than
-- reading the user's tasks in order (0.2 ms instead of 44 ms for 93,576 tasks), a common one
-- far slower, and only a plan made with the tags' statistics can tell. So with tags, the same
-- statement runs through EXECUTE (planned per call, with sorting allowed), as every list was
-- before this function.
-- tests/e2e/tests/api/list_plans.rs checks every statement's plan.
--
-- Returns one row (never zero: Spin 4.0.0-4.0.2 never answer a query without rows): the JSON
-- array of up to `p_limit` tasks, whether more follow, and the last task's sort key (in the
-- column of its type) and id for the next cursor, NULL when no more follow.

-- The sort key of a `tasks t` row as the index of each sort has it (used below, then dropped).
CREATE FUNCTION task_list_sort_key(p_sort text) RETURNS text
    LANGUAGE sql IMMUTABLE
    AS $$
    SELECT CASE p_sort
        WHEN 'createdAt' THEN 't.created_at'
        WHEN 'updatedAt' THEN 't.updated_at'
        WHEN 'dueDate' THEN 't.due_date'
        WHEN 'priority' THEN '(CASE t.priority WHEN ''low'' THEN 0 WHEN ''medium'' THEN 1 ELSE 2 END)'
        WHEN 'title' THEN '(t.title COLLATE task_title)'
    END
$$;

DO $generate$
DECLARE
    branches text := '';
    -- The filters, the same in every statement.
    filters text := $filters$t.user_id = p_user
                   AND (p_status IS NULL OR t.status = p_status)
                   AND (p_priority IS NULL OR t.priority = p_priority)
                   AND (p_category IS NULL OR t.category = p_category)
                   AND (p_pattern IS NULL OR t.title ILIKE p_pattern ESCAPE '\'
                        OR t.description ILIKE p_pattern ESCAPE '\')
                   AND (cardinality(p_tags) = 0 OR t.tags @> p_tags)
                   AND (p_due_before IS NULL OR t.due_date <= p_due_before)
                   AND (p_due_after IS NULL OR t.due_date >= p_due_after)$filters$;
    -- One row from the page's rows `p` (json, k, id, n = the position in the page's order):
    -- the select list, then (after the INTO of a static statement) the rows.
    page_select text := $select$
        SELECT coalesce('[' || string_agg(p.json, ',' ORDER BY p.n) FILTER (WHERE p.n <= p_limit) || ']', '[]'),
               count(*) > p_limit,
               (array_agg(p.k) FILTER (WHERE p.n = p_limit))[1],
               (array_agg(p.id) FILTER (WHERE p.n = p_limit))[1]$select$;
    page_from text := $from$
          FROM (%s) AS p$from$;
    -- The function's arguments as the parameters of an EXECUTE ... USING, in this order.
    arguments text[] := ARRAY['p_user', 'p_status', 'p_priority', 'p_category', 'p_pattern',
        'p_tags', 'p_due_before', 'p_due_after', 'p_after_instant', 'p_after_rank',
        'p_after_title', 'p_after_id', 'p_limit'];
    dynamic text;
    i int;
    sort text;
    descending boolean;
    after text;
    key text;
    direction text;
    cmp text;
    key_out text;
    after_key text;
    rows text;
BEGIN
    FOREACH sort IN ARRAY ARRAY['createdAt', 'updatedAt', 'dueDate', 'priority', 'title'] LOOP
        key := task_list_sort_key(sort);
        key_out := CASE
            WHEN sort IN ('createdAt', 'updatedAt', 'dueDate') THEN 'last_instant'
            WHEN sort = 'priority' THEN 'last_rank'
            ELSE 'last_title' END;
        after_key := CASE key_out
            WHEN 'last_instant' THEN 'p_after_instant'
            WHEN 'last_rank' THEN 'p_after_rank'
            ELSE 'p_after_title' END;
        FOREACH descending IN ARRAY ARRAY[false, true] LOOP
            direction := CASE WHEN descending THEN 'DESC' ELSE 'ASC' END;
            cmp := CASE WHEN descending THEN '<' ELSE '>' END;
            FOREACH after IN ARRAY CASE WHEN sort = 'dueDate'
                    THEN ARRAY['none', 'key', 'no key'] ELSE ARRAY['none', 'key'] END LOOP
                IF sort <> 'dueDate' THEN
                    -- The index of the sort, read in order from the cursor on.
                    rows := format($rows$SELECT t.api_json AS json, %1$s AS k, t.id,
                       row_number() OVER (ORDER BY %2$s %3$s, t.id %3$s) AS n
                  FROM tasks t
                 WHERE %4$s
                   AND %5$s
                 ORDER BY %2$s %3$s, t.id %3$s
                 LIMIT p_limit + 1$rows$,
                        CASE WHEN key_out = 'last_instant' THEN key || ' AT TIME ZONE ''UTC''' ELSE key END,
                        key, direction, filters,
                        CASE WHEN after = 'none' THEN 'true'
                            ELSE format('(%s, t.id) %s (%s, p_after_id)', key, cmp, after_key) END);
                ELSE
                    -- Tasks without a due date come last in both directions, which no index
                    -- order gives for the descending one (a backward scan puts NULLs first),
                    -- and a condition "NULL or after the cursor" is no index range. So: the
                    -- dated tasks from the index of due dates (the cursor as a range), then
                    -- the undated ones from the same index (`due_date IS NULL`, so in id order),
                    -- at most one page of each, and the page from those.
                    rows := format($rows$SELECT u.json, u.k, u.id,
                       row_number() OVER (ORDER BY u.due %1$s NULLS LAST, u.id %1$s) AS n
                  FROM ((SELECT t.api_json AS json, t.due_date AT TIME ZONE 'UTC' AS k, t.id, t.due_date AS due
                           FROM tasks t
                          WHERE %2$s
                            AND %3$s
                          ORDER BY t.due_date %1$s, t.id %1$s
                          LIMIT p_limit + 1)
                        UNION ALL
                        (SELECT t.api_json, NULL::timestamp, t.id, NULL::timestamptz
                           FROM tasks t
                          WHERE %2$s
                            AND t.due_date IS NULL AND %4$s
                          ORDER BY t.due_date %1$s, t.id %1$s
                          LIMIT p_limit + 1)) AS u
                 ORDER BY u.due %1$s NULLS LAST, u.id %1$s
                 LIMIT p_limit + 1$rows$,
                        direction, filters,
                        CASE after
                            WHEN 'none' THEN 't.due_date IS NOT NULL'
                            WHEN 'key' THEN format('(t.due_date, t.id) %s (p_after_instant, p_after_id)', cmp)
                            ELSE 'false' END,
                        CASE WHEN after = 'no key' THEN format('t.id %s p_after_id', cmp) ELSE 'true' END);
                END IF;
                -- The same statement with the arguments as $1, $2, ...
                dynamic := page_select || format(page_from, rows);
                FOR i IN 1 .. cardinality(arguments) LOOP
                    dynamic := regexp_replace(dynamic, '\m' || arguments[i] || '\M', '$' || i, 'g');
                END LOOP;
                branches := branches || format($branch$
    ELSIF p_sort = %L AND p_descending = %L AND %s THEN
        IF cardinality(p_tags) > 0 THEN
            PERFORM set_config('enable_sort', 'on', true);
            EXECUTE %L INTO json, more, %s, last_id USING %s;
        ELSE%s
          INTO json, more, %s, last_id%s;
        END IF;$branch$,
                    sort, descending,
                    CASE after
                        WHEN 'none' THEN 'p_after_id IS NULL'
                        WHEN 'key' THEN format('p_after_id IS NOT NULL AND %s IS NOT NULL', after_key)
                        ELSE 'p_after_id IS NOT NULL AND p_after_instant IS NULL' END,
                    dynamic, key_out, array_to_string(arguments, ', '),
                    page_select, key_out, format(page_from, rows));
            END LOOP;
        END LOOP;
    END LOOP;
    EXECUTE format($function$
CREATE FUNCTION task_list_page(
    p_user text, p_status text, p_priority text, p_category text, p_pattern text, p_tags text[],
    p_due_before timestamptz, p_due_after timestamptz, p_sort text, p_descending boolean,
    p_after_instant timestamptz, p_after_rank int4, p_after_title text, p_after_id uuid,
    p_limit int4,
    OUT json text, OUT more boolean, OUT last_instant timestamp, OUT last_rank int4,
    OUT last_title text, OUT last_id uuid)
    LANGUAGE plpgsql STABLE
    SET plan_cache_mode = force_generic_plan
    SET enable_sort = off
    SET max_parallel_workers_per_gather = 0
    SET jit = off
    AS $body$
BEGIN
    IF p_limit IS NULL OR p_limit < 1 THEN
        RAISE EXCEPTION 'task_list_page: limit must be positive, got %%', p_limit;%s
    ELSE
        RAISE EXCEPTION 'task_list_page: no statement for sort %%, descending %%, cursor (%%, %%, %%, %%)',
            p_sort, p_descending, p_after_instant, p_after_rank, p_after_title, p_after_id;
    END IF;
    IF NOT more THEN
        last_instant := NULL;
        last_rank := NULL;
        last_title := NULL;
        last_id := NULL;
    END IF;
END
$body$$function$, branches);
END
$generate$;

DROP FUNCTION task_list_sort_key(text);
