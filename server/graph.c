/*
 * Graph images with cairo (https://www.cairographics.org/manual/): an image
 * surface, a line of the points scaled to the plot area, light grid lines,
 * the min, max and middle values on the left, UTC time labels below, the
 * failed and error runs as translucent red bands behind the line, and the
 * PNG written by cairo_surface_write_to_png_stream into a capped buffer.
 * Scaling works on halves of the values so that even +-1e308 never
 * overflows to infinity; text is made valid printable UTF-8 before cairo
 * sees it (cairo refuses invalid strings).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cairo.h>

#include "buf.h"
#include "graph.h"
#include "mem.h"
#include "utf8.h"

#define GRAPH_MARGIN_LEFT   72.0
#define GRAPH_MARGIN_RIGHT  16.0
#define GRAPH_MARGIN_TOP    30.0
#define GRAPH_MARGIN_BOTTOM 24.0
#define GRAPH_FONT          "sans-serif"
#define GRAPH_TIME_TICKS    5   /* time labels at most, one per 100 px */
#define GRAPH_DOTS_MAX      60  /* points drawn as dots too when there are few */
#define GRAPH_TEXT_MAX      512 /* bytes of a label */

struct graph_ctx {
    cairo_t *cr;
    double x0, y0, w, h; /* plot area */
    int64_t t0, t1;      /* time axis */
    double vmin, vmax;   /* finite extremes of the values */
};

/*
 * 1 when the valid sequence u of len bytes is a Unicode noncharacter (U+FDD0..U+FDEF,
 * U+xFFFE, U+xFFFF): well-formed UTF-8 that cairo's text functions still refuse.
 */
static int graph_nonchar(const unsigned char *u, size_t len)
{
    unsigned cp = u[0] & (0x7fu >> len);
    size_t i;

    for (i = 1; i < len; i++)
        cp = (cp << 6) | (u[i] & 0x3fu);
    return (cp >= 0xfdd0 && cp <= 0xfdef) || (cp & 0xfffeu) == 0xfffeu;
}

/*
 * Copies s into out (n bytes) as printable UTF-8 that cairo accepts: controls become
 * spaces, bad bytes and noncharacters '?'.
 */
static void graph_clean(const char *s, char *out, size_t n)
{
    const unsigned char *u = (const unsigned char *)(s != NULL ? s : "");
    size_t i = 0, o = 0, len, sl = strlen((const char *)u);

    while (i < sl && o + 5 < n) {
        len = u[i] < 0x80 ? 1 : utf8_seq_len(u + i, sl - i);
        if (len == 0) {
            out[o++] = '?';
            i++;
        } else if (len > 1 && graph_nonchar(u + i, len)) {
            out[o++] = '?';
            i += len;
        } else if (len == 1) {
            out[o++] = u[i] < 0x20 || u[i] == 0x7f ? ' ' : (char)u[i];
            i++;
        } else {
            memcpy(out + o, u + i, len);
            o += len;
            i += len;
        }
    }
    out[o] = '\0';
}

static double graph_text_width(cairo_t *cr, const char *s)
{
    cairo_text_extents_t te;

    cairo_text_extents(cr, s, &te);
    return te.x_advance;
}

/* Shortens s in place (on a character boundary, with "...") until it fits max_w. */
static void graph_fit(cairo_t *cr, char *s, double max_w)
{
    size_t n = strlen(s);

    if (graph_text_width(cr, s) <= max_w)
        return;
    while (n > 0) {
        n = utf8_cut(s, n, n - 1);
        memcpy(s + n, "...", 4);
        if (graph_text_width(cr, s) <= max_w)
            return;
    }
}

static void graph_show(cairo_t *cr, double x, double y, const char *s)
{
    cairo_move_to(cr, x, y);
    cairo_show_text(cr, s);
}

/* Formats v for a label: short, exact enough ("%.6g"). */
static void graph_fmt_value(double v, char *out, size_t n)
{
    snprintf(out, n, "%.6g", v);
}

/* Formats t (ms) in UTC: "HH:MM" for spans under two days, else "MM-DD HH:MM". */
static void graph_fmt_time(int64_t t, int64_t span, char *out, size_t n)
{
    time_t s = (time_t)(t / 1000);
    struct tm tm;

    if (gmtime_r(&s, &tm) == NULL) {
        snprintf(out, n, "?");
        return;
    }
    strftime(out, n, span < 2 * 86400 * 1000LL ? "%H:%M" : "%m-%d %H:%M", &tm);
}

static double graph_x(const struct graph_ctx *g, int64_t t)
{
    double span = (double)(g->t1 - g->t0);

    if (span <= 0)
        return g->x0 + g->w / 2;
    return g->x0 + ((double)(t - g->t0) / span) * g->w;
}

/* Halves keep max - min finite for any finite pair. */
static double graph_y(const struct graph_ctx *g, double v)
{
    double half = g->vmax / 2 - g->vmin / 2, frac;

    frac = half > 0 ? (v / 2 - g->vmin / 2) / half : 0.5;
    return g->y0 + g->h - (0.05 + 0.9 * frac) * g->h;
}

/* Finite extremes of the points; returns how many are finite. */
static size_t graph_extremes(const struct graph_spec *s, double *vmin, double *vmax)
{
    size_t i, n = 0;

    for (i = 0; i < s->npoints; i++) {
        double v = s->points[i].value;

        if (!isfinite(v))
            continue;
        if (n == 0 || v < *vmin)
            *vmin = v;
        if (n == 0 || v > *vmax)
            *vmax = v;
        n++;
    }
    return n;
}

static void graph_time_range(const struct graph_spec *s, struct graph_ctx *g)
{
    g->t0 = s->since_ms;
    g->t1 = s->until_ms;
    if (g->t0 < g->t1 || s->npoints == 0)
        return;
    g->t0 = s->points[0].ts_ms;
    g->t1 = s->points[s->npoints - 1].ts_ms;
    if (g->t1 <= g->t0) {
        g->t0 -= 1800 * 1000LL;
        g->t1 += 1800 * 1000LL;
    }
}

static void graph_title(struct graph_ctx *g, const struct graph_spec *s, double width)
{
    char text[GRAPH_TEXT_MAX], note[64];
    double note_w = 0;

    cairo_select_font_face(g->cr, GRAPH_FONT, CAIRO_FONT_SLANT_NORMAL, CAIRO_FONT_WEIGHT_NORMAL);
    cairo_set_font_size(g->cr, 11);
    if (s->nmarks > 0) {
        snprintf(note, sizeof(note), "%zu failed run%s", s->nmarks, s->nmarks == 1 ? "" : "s");
        note_w = graph_text_width(g->cr, note);
        cairo_set_source_rgb(g->cr, 0.80, 0.10, 0.10);
        graph_show(g->cr, width - GRAPH_MARGIN_RIGHT - note_w, 19, note);
    }
    graph_clean(s->title, text, sizeof(text));
    cairo_select_font_face(g->cr, GRAPH_FONT, CAIRO_FONT_SLANT_NORMAL, CAIRO_FONT_WEIGHT_BOLD);
    cairo_set_font_size(g->cr, 13);
    graph_fit(g->cr, text, width - 2 * 10 - note_w - 12);
    cairo_set_source_rgb(g->cr, 0.1, 0.1, 0.1);
    graph_show(g->cr, 10, 19, text);
}

/* The frame, horizontal grid at min, middle and max with their values, time ticks. */
static void graph_axes(struct graph_ctx *g, int have_data)
{
    char label[64];
    double y, x, vals[3];
    int64_t t, span = g->t1 - g->t0;
    int i, nvals = g->vmax > g->vmin ? 3 : 1, ticks = (int)(g->w / 100);

    ticks = ticks < 2 ? 2 : ticks > GRAPH_TIME_TICKS ? GRAPH_TIME_TICKS : ticks;

    cairo_select_font_face(g->cr, GRAPH_FONT, CAIRO_FONT_SLANT_NORMAL, CAIRO_FONT_WEIGHT_NORMAL);
    cairo_set_font_size(g->cr, 10);
    cairo_set_line_width(g->cr, 1);
    vals[0] = g->vmin;
    vals[1] = g->vmin / 2 + g->vmax / 2;
    vals[2] = g->vmax;
    for (i = 0; have_data && i < nvals; i++) {
        double v = nvals == 1 ? g->vmin : vals[i];

        y = floor(graph_y(g, v)) + 0.5;
        cairo_set_source_rgb(g->cr, 0.88, 0.88, 0.88);
        cairo_move_to(g->cr, g->x0, y);
        cairo_line_to(g->cr, g->x0 + g->w, y);
        cairo_stroke(g->cr);
        graph_fmt_value(v, label, sizeof(label));
        cairo_set_source_rgb(g->cr, 0.3, 0.3, 0.3);
        graph_fit(g->cr, label, GRAPH_MARGIN_LEFT - 8);
        graph_show(g->cr, g->x0 - 4 - graph_text_width(g->cr, label), y + 3.5, label);
    }
    for (i = 0; span > 0 && i < ticks; i++) {
        t = g->t0 + span / (ticks - 1) * i;
        x = floor(graph_x(g, t)) + 0.5;
        cairo_set_source_rgb(g->cr, 0.75, 0.75, 0.75);
        cairo_move_to(g->cr, x, g->y0 + g->h);
        cairo_line_to(g->cr, x, g->y0 + g->h + 4);
        cairo_stroke(g->cr);
        graph_fmt_time(t, span, label, sizeof(label));
        if (i == ticks - 1)
            strncat(label, " UTC", sizeof(label) - strlen(label) - 1);
        cairo_set_source_rgb(g->cr, 0.3, 0.3, 0.3);
        graph_show(g->cr,
                   i == 0           ? x
                   : i == ticks - 1 ? x - graph_text_width(g->cr, label)
                                    : x - graph_text_width(g->cr, label) / 2,
                   g->y0 + g->h + 16, label);
    }
    cairo_set_source_rgb(g->cr, 0.55, 0.55, 0.55);
    cairo_rectangle(g->cr, g->x0 + 0.5, g->y0 + 0.5, g->w - 1, g->h - 1);
    cairo_stroke(g->cr);
}

/* Failed (red) and error (darker red) runs as bands at least 2 px wide. */
static void graph_marks(struct graph_ctx *g, const struct graph_spec *s)
{
    size_t i;

    for (i = 0; i < s->nmarks; i++) {
        const struct graph_mark *m = &s->marks[i];
        double x0, x1;

        if (m->ts_ms + (m->duration_ms > 0 ? m->duration_ms : 0) < g->t0 || m->ts_ms > g->t1)
            continue;
        x0 = graph_x(g, m->ts_ms < g->t0 ? g->t0 : m->ts_ms);
        x1 = graph_x(g, m->ts_ms + (m->duration_ms > 0 ? m->duration_ms : 0));
        if (x1 > g->x0 + g->w)
            x1 = g->x0 + g->w;
        if (x1 - x0 < 2) {
            x0 -= 1;
            x1 = x0 + 2;
        }
        if (m->error)
            cairo_set_source_rgba(g->cr, 0.55, 0.0, 0.0, 0.45);
        else
            cairo_set_source_rgba(g->cr, 0.90, 0.10, 0.10, 0.35);
        cairo_rectangle(g->cr, x0, g->y0, x1 - x0, g->h);
        cairo_fill(g->cr);
    }
}

static void graph_line(struct graph_ctx *g, const struct graph_spec *s, size_t nfinite)
{
    size_t i;
    int started = 0;

    cairo_save(g->cr);
    cairo_rectangle(g->cr, g->x0, g->y0, g->w, g->h);
    cairo_clip(g->cr);
    cairo_set_source_rgb(g->cr, 0.12, 0.40, 0.75);
    cairo_set_line_width(g->cr, 1.5);
    cairo_set_line_join(g->cr, CAIRO_LINE_JOIN_ROUND);
    for (i = 0; i < s->npoints; i++) {
        const struct graph_point *p = &s->points[i];

        if (!isfinite(p->value))
            continue;
        if (!started)
            cairo_move_to(g->cr, graph_x(g, p->ts_ms), graph_y(g, p->value));
        else
            cairo_line_to(g->cr, graph_x(g, p->ts_ms), graph_y(g, p->value));
        started = 1;
    }
    cairo_stroke(g->cr);
    for (i = 0; nfinite <= GRAPH_DOTS_MAX && i < s->npoints; i++) {
        const struct graph_point *p = &s->points[i];

        if (!isfinite(p->value))
            continue;
        cairo_arc(g->cr, graph_x(g, p->ts_ms), graph_y(g, p->value), 2.5, 0, 2 * M_PI);
        cairo_fill(g->cr);
    }
    cairo_restore(g->cr);
}

static void graph_no_data(struct graph_ctx *g)
{
    const char *msg = "no data";

    cairo_select_font_face(g->cr, GRAPH_FONT, CAIRO_FONT_SLANT_NORMAL, CAIRO_FONT_WEIGHT_NORMAL);
    cairo_set_font_size(g->cr, 14);
    cairo_set_source_rgb(g->cr, 0.45, 0.45, 0.45);
    graph_show(g->cr, g->x0 + (g->w - graph_text_width(g->cr, msg)) / 2, g->y0 + g->h / 2 + 5, msg);
}

static cairo_status_t graph_write(void *closure, const unsigned char *data, unsigned int len)
{
    return buf_append(closure, data, len) == HO_OK ? CAIRO_STATUS_SUCCESS
                                                   : CAIRO_STATUS_WRITE_ERROR;
}

static int graph_clamp(int v, int def, int lo, int hi)
{
    if (v <= 0)
        return def;
    return v < lo ? lo : v > hi ? hi : v;
}

/* Draws everything onto cr (width x height). */
static void graph_draw(cairo_t *cr, const struct graph_spec *s, int width, int height)
{
    struct graph_ctx g;
    size_t nfinite;

    memset(&g, 0, sizeof(g));
    g.cr = cr;
    g.x0 = GRAPH_MARGIN_LEFT;
    g.y0 = GRAPH_MARGIN_TOP;
    g.w = width - GRAPH_MARGIN_LEFT - GRAPH_MARGIN_RIGHT;
    g.h = height - GRAPH_MARGIN_TOP - GRAPH_MARGIN_BOTTOM;
    nfinite = graph_extremes(s, &g.vmin, &g.vmax);
    graph_time_range(s, &g);
    cairo_set_source_rgb(cr, 1, 1, 1);
    cairo_paint(cr);
    graph_title(&g, s, width);
    if (g.t1 > g.t0)
        graph_marks(&g, s);
    graph_axes(&g, nfinite > 0);
    if (nfinite > 0)
        graph_line(&g, s, nfinite);
    else
        graph_no_data(&g);
}

enum ho_code graph_png(const struct graph_spec *s, char **png, size_t *len, struct ho_error *err)
{
    int width = graph_clamp(s->width, GRAPH_WIDTH_DEFAULT, GRAPH_WIDTH_MIN, GRAPH_WIDTH_MAX);
    int height = graph_clamp(s->height, GRAPH_HEIGHT_DEFAULT, GRAPH_HEIGHT_MIN, GRAPH_HEIGHT_MAX);
    cairo_surface_t *sf;
    cairo_status_t st;
    cairo_t *cr;
    struct buf b;

    *png = NULL;
    *len = 0;
    sf = cairo_image_surface_create(CAIRO_FORMAT_RGB24, width, height);
    if (cairo_surface_status(sf) != CAIRO_STATUS_SUCCESS) {
        st = cairo_surface_status(sf);
        cairo_surface_destroy(sf);
        return ho_error_set(err, HO_EINTERNAL, NULL, "cairo: %s", cairo_status_to_string(st));
    }
    cr = cairo_create(sf);
    graph_draw(cr, s, width, height);
    st = cairo_status(cr);
    cairo_destroy(cr);
    if (st != CAIRO_STATUS_SUCCESS) {
        cairo_surface_destroy(sf);
        return ho_error_set(err, HO_EINTERNAL, NULL, "cairo: %s", cairo_status_to_string(st));
    }
    cairo_surface_flush(sf);
    buf_init(&b, GRAPH_PNG_MAX);
    st = cairo_surface_write_to_png_stream(sf, graph_write, &b);
    cairo_surface_destroy(sf);
    if (st != CAIRO_STATUS_SUCCESS) {
        buf_cleanup(&b);
        if (st == CAIRO_STATUS_WRITE_ERROR)
            return ho_error_set(err, HO_ETOOBIG, NULL, "the image is larger than %u bytes",
                                GRAPH_PNG_MAX);
        return ho_error_set(err, HO_EINTERNAL, NULL, "cairo: %s", cairo_status_to_string(st));
    }
    *len = b.len;
    *png = buf_take(&b);
    return HO_OK;
}
