/*
 * Unit tests for json_arena: cJSON's allocations from a per-thread block inside
 * a scope, malloc outside one, when the block is full, and on other threads.
 * Under AddressSanitizer a node freed with the wrong deallocator, or one never
 * freed, fails the run.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <cjson/cJSON.h>

#include "buf.h"
#include "json_arena.h"

static const char doc[] = "{\"a\":[1,2,3],\"b\":\"text\",\"c\":{\"d\":true}}";

/* Parses doc, checks two of its values, deletes it. */
static void parse_doc(void)
{
    cJSON *root = cJSON_Parse(doc);

    assert_non_null(root);
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(root, "a")), 3);
    assert_string_equal(cJSON_GetObjectItem(root, "b")->valuestring, "text");
    cJSON_Delete(root);
}

/* Must run first: before json_arena_install a scope changes nothing. */
static void test_json_arena_inert_before_install(void **state)
{
    (void)state;
    json_arena_begin(sizeof(doc));
    parse_doc();
    assert_int_equal(json_arena_used(), 0);
    json_arena_end();
}

static void test_json_arena_scope_takes_and_ends(void **state)
{
    cJSON *root;
    size_t used;

    (void)state;
    json_arena_install();
    json_arena_begin(sizeof(doc));
    root = cJSON_Parse(doc);
    assert_non_null(root);
    used = json_arena_used();
    assert_true(used >= 8 * sizeof(cJSON)); /* 8 nodes, each from the block */
    assert_int_equal(used % 16, 0);
    cJSON_Delete(root);
    assert_int_equal(json_arena_used(), used); /* a free in the scope gives nothing back */
    json_arena_end();
    assert_int_equal(json_arena_used(), 0);
    /* the next scope starts the block again */
    json_arena_begin(sizeof(doc));
    parse_doc();
    assert_int_equal(json_arena_used(), used);
    json_arena_end();
}

/* A document larger than its scope's block: the rest comes from malloc, and goes back to it. */
static void test_json_arena_full_block_falls_back(void **state)
{
    struct buf b;
    cJSON *root, *it;
    int i, sum = 0;

    (void)state;
    json_arena_install();
    buf_init(&b, 1 << 20);
    assert_int_equal(buf_appends(&b, "["), HO_OK);
    for (i = 0; i < 5000; i++)
        assert_int_equal(buf_printf(&b, "%s{\"n\":%d}", i > 0 ? "," : "", i), HO_OK);
    assert_int_equal(buf_appends(&b, "]"), HO_OK);
    json_arena_begin(1); /* a block of a few KiB for ~100 KiB of nodes */
    root = cJSON_ParseWithLength(b.data, b.len);
    assert_non_null(root);
    assert_true(json_arena_used() <= 8192);
    cJSON_ArrayForEach(it, root)
        sum += cJSON_GetObjectItem(it, "n")->valueint;
    assert_int_equal(sum, 5000 * 4999 / 2);
    cJSON_Delete(root);
    json_arena_end();
    buf_cleanup(&b);
}

/* Trees made outside a scope use malloc, whether printed, kept or deleted in a scope later. */
static void test_json_arena_outside_scope_is_malloc(void **state)
{
    cJSON *o;
    char *text;

    (void)state;
    json_arena_install();
    o = cJSON_CreateObject();
    assert_non_null(cJSON_AddStringToObject(o, "k", "v"));
    text = cJSON_PrintUnformatted(o);
    assert_string_equal(text, "{\"k\":\"v\"}");
    cJSON_free(text);
    assert_int_equal(json_arena_used(), 0);
    json_arena_begin(sizeof(doc));
    cJSON_Delete(o); /* made with malloc: freed for real (a leak otherwise) */
    assert_int_equal(json_arena_used(), 0);
    json_arena_end();
}

static void test_json_arena_nested_scopes(void **state)
{
    size_t used;

    (void)state;
    json_arena_install();
    json_arena_begin(sizeof(doc));
    json_arena_begin(sizeof(doc));
    parse_doc();
    used = json_arena_used();
    assert_true(used > 0);
    json_arena_end(); /* the inner end leaves the outer scope open */
    assert_int_equal(json_arena_used(), used);
    parse_doc();
    assert_true(json_arena_used() > used);
    json_arena_end();
    assert_int_equal(json_arena_used(), 0);
    json_arena_end(); /* one end too many does nothing */
    assert_int_equal(json_arena_used(), 0);
}

static void *other_thread(void *arg)
{
    size_t *seen = arg;
    cJSON *o = cJSON_CreateArray();
    int i;

    for (i = 0; i < 100; i++)
        cJSON_AddItemToArray(o, cJSON_CreateNumber(i));
    seen[0] = json_arena_used(); /* this thread has no scope */
    cJSON_Delete(o);
    json_arena_begin(sizeof(doc)); /* its own block */
    parse_doc();
    seen[1] = json_arena_used();
    json_arena_end();
    return NULL;
}

/* A scope is the thread's own: other threads allocate from malloc or their own block. */
static void test_json_arena_per_thread(void **state)
{
    size_t seen[2] = {1, 0}, used;
    pthread_t t;

    (void)state;
    json_arena_install();
    json_arena_begin(sizeof(doc));
    parse_doc();
    used = json_arena_used();
    assert_int_equal(pthread_create(&t, NULL, other_thread, seen), 0);
    assert_int_equal(pthread_join(t, NULL), 0);
    assert_int_equal(seen[0], 0);
    assert_int_equal(seen[1], used); /* the same document, from its own block */
    assert_int_equal(json_arena_used(), used);
    json_arena_end();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_json_arena_inert_before_install),
        cmocka_unit_test(test_json_arena_scope_takes_and_ends),
        cmocka_unit_test(test_json_arena_full_block_falls_back),
        cmocka_unit_test(test_json_arena_outside_scope_is_malloc),
        cmocka_unit_test(test_json_arena_nested_scopes),
        cmocka_unit_test(test_json_arena_per_thread),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
