/*
 * Tests of the graph images (server/graph.h): a real PNG (signature, IHDR
 * width and height as asked, clamped to the bounds), decoded again with cairo
 * to look at its pixels: the line is drawn, failed runs are red bands where
 * they happened, "no data" without points, and one point, identical values,
 * huge values, NaN and infinities all draw without failing.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <cairo.h>

#include "graph.h"

#define T0  1795528800000LL
#define MIN 60000LL

struct png_reader {
    const char *data;
    size_t len, off;
};

static cairo_status_t png_read(void *closure, unsigned char *out, unsigned int n)
{
    struct png_reader *r = closure;

    if (r->off + n > r->len)
        return CAIRO_STATUS_READ_ERROR;
    memcpy(out, r->data + r->off, n);
    r->off += n;
    return CAIRO_STATUS_SUCCESS;
}

static uint32_t be32(const char *p)
{
    const unsigned char *u = (const unsigned char *)p;

    return (uint32_t)u[0] << 24 | (uint32_t)u[1] << 16 | (uint32_t)u[2] << 8 | u[3];
}

/* Draws s, checks the PNG header and size, and returns the decoded image. */
static cairo_surface_t *draw(const struct graph_spec *s, int want_w, int want_h)
{
    struct png_reader r;
    struct ho_error err;
    cairo_surface_t *img;
    char *png = NULL;
    size_t len = 0;

    ho_error_clear(&err);
    if (graph_png(s, &png, &len, &err) != HO_OK)
        fail_msg("graph_png: %s", err.msg);
    assert_true(len > 33);
    assert_memory_equal(png, "\x89PNG\r\n\x1a\n", 8);
    assert_memory_equal(png + 12, "IHDR", 4);
    assert_int_equal(be32(png + 16), want_w);
    assert_int_equal(be32(png + 20), want_h);
    r.data = png;
    r.len = len;
    r.off = 0;
    img = cairo_image_surface_create_from_png_stream(png_read, &r);
    assert_int_equal(cairo_surface_status(img), CAIRO_STATUS_SUCCESS);
    assert_int_equal(cairo_image_surface_get_width(img), want_w);
    assert_int_equal(cairo_image_surface_get_height(img), want_h);
    free(png);
    return img;
}

enum hue { HUE_LINE, HUE_RED, HUE_DARK };

static int pixel_is(uint32_t px, enum hue h)
{
    int r = (px >> 16) & 255, g = (px >> 8) & 255, b = px & 255;

    switch (h) {
    case HUE_LINE:
        return b > 150 && b > r + 80 && g < 160;
    case HUE_RED:
        return r > 200 && g < 190 && b < 190 && r > g + 40;
    case HUE_DARK:
        return r < 140 && g < 140 && b < 140 && abs(r - b) < 20;
    }
    return 0;
}

/* Pixels of hue h in the rectangle [x0, x1) x [y0, y1). */
static int count(cairo_surface_t *img, enum hue h, int x0, int y0, int x1, int y1)
{
    unsigned char *data;
    int stride, x, y, n = 0;

    cairo_surface_flush(img);
    data = cairo_image_surface_get_data(img);
    stride = cairo_image_surface_get_stride(img);
    for (y = y0; y < y1; y++) {
        for (x = x0; x < x1; x++) {
            uint32_t px;

            memcpy(&px, data + (size_t)y * (size_t)stride + (size_t)x * 4, 4);
            n += pixel_is(px, h);
        }
    }
    return n;
}

static void test_graph_png_has_the_asked_size_and_a_line(void **state)
{
    struct graph_point pts[50];
    struct graph_spec s;
    cairo_surface_t *img;
    int i;

    (void)state;
    for (i = 0; i < 50; i++) {
        pts[i].ts_ms = T0 + i * MIN;
        pts[i].value = 10 + sin(i / 5.0) * 5;
    }
    memset(&s, 0, sizeof(s));
    s.title = "web-1  nginx.running  nginx.workers";
    s.width = 640;
    s.height = 240;
    s.since_ms = T0;
    s.until_ms = T0 + 50 * MIN;
    s.points = pts;
    s.npoints = 50;
    img = draw(&s, 640, 240);
    assert_true(count(img, HUE_LINE, 0, 0, 640, 240) > 300);
    assert_int_equal(count(img, HUE_RED, 0, 30, 640, 240), 0);
    /* a title on top */
    assert_true(count(img, HUE_DARK, 0, 0, 640, 28) > 50);
    cairo_surface_destroy(img);
}

static void test_graph_failed_runs_are_red_bands(void **state)
{
    struct graph_point pts[60];
    struct graph_mark marks[2] = {{T0 + 30 * MIN, 3 * MIN, 0}, {T0 + 45 * MIN, 0, 1}};
    struct graph_spec s;
    cairo_surface_t *img;
    int i, xmid;

    (void)state;
    for (i = 0; i < 60; i++) {
        pts[i].ts_ms = T0 + i * MIN;
        pts[i].value = i % 7;
    }
    memset(&s, 0, sizeof(s));
    s.title = "t";
    s.width = 800;
    s.height = 300;
    s.since_ms = T0;
    s.until_ms = T0 + 60 * MIN;
    s.points = pts;
    s.npoints = 60;
    s.marks = marks;
    s.nmarks = 1;
    img = draw(&s, 800, 300);
    /* the plot spans x 72..784 for 60 minutes: minute 30..33 is about x 428..464 */
    xmid = 72 + (784 - 72) * 31 / 60;
    assert_true(count(img, HUE_RED, xmid - 3, 40, xmid + 3, 260) > 100);
    assert_int_equal(count(img, HUE_RED, 80, 40, 300, 260), 0);
    cairo_surface_destroy(img);
    s.nmarks = 2; /* an error run without duration is still visible */
    img = draw(&s, 800, 300);
    xmid = 72 + (784 - 72) * 45 / 60;
    assert_true(count(img, HUE_DARK, xmid - 2, 40, xmid + 3, 260) +
                    count(img, HUE_RED, xmid - 2, 40, xmid + 3, 260) >
                200);
    cairo_surface_destroy(img);
}

static void test_graph_no_data(void **state)
{
    struct graph_spec s;
    cairo_surface_t *img;

    (void)state;
    memset(&s, 0, sizeof(s));
    s.title = "web-1  disk.free  -";
    s.since_ms = T0;
    s.until_ms = T0 + 60 * MIN;
    img = draw(&s, GRAPH_WIDTH_DEFAULT, GRAPH_HEIGHT_DEFAULT);
    assert_int_equal(count(img, HUE_LINE, 0, 0, 800, 300), 0);
    /* "no data" written in the middle of the plot */
    assert_true(count(img, HUE_DARK, 340, 135, 480, 170) > 20);
    cairo_surface_destroy(img);

    /* only NaN and infinities: no data either, and no time range from the points */
    {
        struct graph_point bad[2] = {{T0, NAN}, {T0 + MIN, INFINITY}};

        s.points = bad;
        s.npoints = 2;
        s.since_ms = 0;
        s.until_ms = 0;
        img = draw(&s, 800, 300);
        assert_int_equal(count(img, HUE_LINE, 0, 0, 800, 300), 0);
        cairo_surface_destroy(img);
    }
}

static void test_graph_one_point_identical_and_huge_values(void **state)
{
    struct graph_point one[1] = {{T0 + 5 * MIN, 42}};
    struct graph_point same[10];
    struct graph_point huge[6] = {{T0, 1e308},
                                  {T0 + MIN, -1e308},
                                  {T0 + 2 * MIN, NAN},
                                  {T0 + 3 * MIN, DBL_MAX},
                                  {T0 + 4 * MIN, -DBL_MAX},
                                  {T0 + 5 * MIN, -INFINITY}};
    struct graph_spec s;
    cairo_surface_t *img;
    int i;

    (void)state;
    memset(&s, 0, sizeof(s));
    s.title = "one";
    s.width = 400;
    s.height = 200;
    s.points = one;
    s.npoints = 1;
    img = draw(&s, 400, 200); /* no since/until: the range comes from the point */
    assert_true(count(img, HUE_LINE, 0, 0, 400, 200) > 5);
    cairo_surface_destroy(img);

    for (i = 0; i < 10; i++) {
        same[i].ts_ms = T0 + i * MIN;
        same[i].value = 7.5;
    }
    s.points = same;
    s.npoints = 10;
    s.since_ms = T0;
    s.until_ms = T0 + 10 * MIN;
    img = draw(&s, 400, 200);
    assert_true(count(img, HUE_LINE, 0, 0, 400, 200) > 100);
    cairo_surface_destroy(img);

    s.points = huge;
    s.npoints = 6;
    img = draw(&s, 400, 200);
    assert_true(count(img, HUE_LINE, 0, 0, 400, 200) > 100);
    cairo_surface_destroy(img);
}

static void test_graph_sizes_are_clamped_and_titles_cleaned(void **state)
{
    struct graph_point pts[2] = {{T0, 1}, {T0 + MIN, 2}};
    struct graph_spec s;
    cairo_surface_t *img;
    char title[3000];

    (void)state;
    memset(&s, 0, sizeof(s));
    memset(title, 'W', sizeof(title) - 1);
    title[sizeof(title) - 1] = '\0';
    memcpy(title, "bad \xFF\xFE utf-8 \x01\n", 15);
    s.title = title;
    s.points = pts;
    s.npoints = 2;
    s.width = 10;
    s.height = 5000;
    img = draw(&s, GRAPH_WIDTH_MIN, GRAPH_HEIGHT_MAX);
    cairo_surface_destroy(img);
    s.width = 99999;
    s.height = 1;
    img = draw(&s, GRAPH_WIDTH_MAX, GRAPH_HEIGHT_MIN);
    cairo_surface_destroy(img);
    s.width = 0;
    s.height = 0;
    s.title = NULL;
    img = draw(&s, GRAPH_WIDTH_DEFAULT, GRAPH_HEIGHT_DEFAULT);
    cairo_surface_destroy(img);
    /* noncharacters are valid UTF-8 that cairo refuses (found by fuzz_query): still drawn */
    s.title = "web01 nginx \xEF\xBF\xBF \xEF\xB7\x90 \xF0\xBF\xBF\xBF \xEF\xBF\xBE end";
    img = draw(&s, GRAPH_WIDTH_DEFAULT, GRAPH_HEIGHT_DEFAULT);
    cairo_surface_destroy(img);
}

/*
 * fontconfig (under cairo's toy text API) keeps its configuration until
 * FcFini, which cairo does not call; that is the library's, not a leak of ours.
 */
const char *__lsan_default_suppressions(void);
const char *__lsan_default_suppressions(void)
{
    return "leak:libfontconfig.so\n";
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_graph_png_has_the_asked_size_and_a_line),
        cmocka_unit_test(test_graph_failed_runs_are_red_bands),
        cmocka_unit_test(test_graph_no_data),
        cmocka_unit_test(test_graph_one_point_identical_and_huge_values),
        cmocka_unit_test(test_graph_sizes_are_clamped_and_titles_cleaned),
    };

    int failed = cmocka_run_group_tests(tests, NULL, NULL);

    cairo_debug_reset_static_data(); /* so LeakSanitizer sees only our leaks */
    return failed;
}
