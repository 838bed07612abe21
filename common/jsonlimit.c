/*
 * JSON nesting depth (jsonlimit.h): one pass over the bytes tracking only
 * whether we are inside a string (RFC 8259 section 7: a string ends at an
 * unescaped quote) and the bracket depth outside strings.
 */
#include "jsonlimit.h"

int json_depth(const char *text, size_t n, int max)
{
    int depth = 0, deepest = 0, in_string = 0;
    size_t i;

    for (i = 0; i < n; i++) {
        char c = text[i];

        if (in_string) {
            if (c == '\\')
                i++; /* the escaped character cannot end the string */
            else if (c == '"')
                in_string = 0;
            continue;
        }
        if (c == '"') {
            in_string = 1;
        } else if (c == '[' || c == '{') {
            if (++depth > max)
                return -1;
            if (depth > deepest)
                deepest = depth;
        } else if ((c == ']' || c == '}') && depth > 0) {
            depth--;
        }
    }
    return deepest;
}
