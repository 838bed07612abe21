/*
 * Bump allocation for cJSON while a thread parses a document and frees it before
 * it goes on (run_batch_parse, run_metrics_parse). A batch of 100 runs is a few
 * thousand nodes and strings, each a malloc and a free of its own: a tenth of the
 * server's CPU under ingest. Inside a scope they come from one block the thread
 * keeps; a free of one of them does nothing, and the scope's end takes them all.
 *
 * json_arena_install sets cJSON's hooks once, before any thread starts; without
 * it (tools, tests that do not call it) scopes change nothing. Outside a scope,
 * and when a scope's block is full, cJSON gets malloc as before.
 *
 * The contract of a scope: between json_arena_begin and json_arena_end the
 * thread only parses and deletes cJSON trees it made in that scope; nothing
 * cJSON allocated there outlives it (no cJSON_Print, no tree kept).
 */
#ifndef HO_JSON_ARENA_H
#define HO_JSON_ARENA_H

#include <stddef.h>

/* The largest block a thread keeps; a document that would need more is parsed with malloc. */
#define JSON_ARENA_MAX ((size_t)4 << 20)

void json_arena_install(void);

/* Starts a scope for parsing n bytes of JSON on this thread (no-op before install). */
void json_arena_begin(size_t n);

/* Ends it: everything cJSON allocated in it is gone. */
void json_arena_end(void);

/* Bytes handed out in the current scope from the block (for tests), 0 outside one. */
size_t json_arena_used(void);

#endif
