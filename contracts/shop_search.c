/* shop_search: filter, sort and limit a product catalogue (ABI v1).
 *
 * Records: canonical CBOR maps with "name", "description", "category" (text)
 * and "price" (uint, cents); other keys are ignored.
 * Args: CBOR map, keys optional: "text" (case-insensitive ASCII substring of
 * name or description), "category" (exact), "min_price" / "max_price"
 * (inclusive), "sort" ("price", "-price", "name", "none"), "limit" (uint).
 * Output: matching record indices, sorted (ties by index) and limited.
 * Error codes: 1 bad args, 2 bad record, 3 out of memory, 4 bad framing.
 */
#include "nc_abi.h"

enum { SORT_NONE = 0, SORT_PRICE = 1, SORT_PRICE_DESC = 2, SORT_NAME = 3 };

typedef struct {
    const u8 *text; u32 text_len; int has_text;
    const u8 *cat; u32 cat_len; int has_cat;
    u64 min_price, max_price;
    int sort;
    u64 limit;
} query;

typedef struct {
    const u8 *name; u32 name_len;
    const u8 *desc; u32 desc_len;
    const u8 *cat; u32 cat_len;
    u64 price;
} product;

static u8 lower(u8 ch) { return (ch >= 'A' && ch <= 'Z') ? (u8)(ch + 32) : ch; }

/* pat is already lower-case */
static int contains(const u8 *hay, u32 hlen, const u8 *pat, u32 plen) {
    if (plen == 0) return 1;
    if (plen > hlen) return 0;
    u8 first = pat[0];
    for (u32 i = 0; i + plen <= hlen; i++) {
        if (lower(hay[i]) != first) continue;
        u32 j = 1;
        while (j < plen && lower(hay[i + j]) == pat[j]) j++;
        if (j == plen) return 1;
    }
    return 0;
}

static int parse_args(const u8 *p, u32 len, query *q) {
    cbor c;
    cb_init(&c, p, len);
    q->has_text = q->has_cat = 0;
    q->min_price = 0;
    q->max_price = ~(u64)0;
    q->sort = SORT_NONE;
    q->limit = ~(u64)0;
    u32 n = cb_map(&c);
    u32 seen = 0;
    for (u32 i = 0; i < n && !c.err; i++) {
        u32 kl;
        const u8 *k = cb_string(&c, CB_TEXT, &kl);
        if (c.err) return -1;
        u32 bit;
        if (nc_eq(k, kl, "text")) {
            bit = 1; q->text = cb_string(&c, CB_TEXT, &q->text_len); q->has_text = 1;
        } else if (nc_eq(k, kl, "category")) {
            bit = 2; q->cat = cb_string(&c, CB_TEXT, &q->cat_len); q->has_cat = 1;
        } else if (nc_eq(k, kl, "min_price")) {
            bit = 4; q->min_price = cb_uint(&c);
        } else if (nc_eq(k, kl, "max_price")) {
            bit = 8; q->max_price = cb_uint(&c);
        } else if (nc_eq(k, kl, "limit")) {
            bit = 16; q->limit = cb_uint(&c);
        } else if (nc_eq(k, kl, "sort")) {
            bit = 32;
            u32 sl;
            const u8 *s = cb_string(&c, CB_TEXT, &sl);
            if (c.err) return -1;
            if (nc_eq(s, sl, "price")) q->sort = SORT_PRICE;
            else if (nc_eq(s, sl, "-price")) q->sort = SORT_PRICE_DESC;
            else if (nc_eq(s, sl, "name")) q->sort = SORT_NAME;
            else if (nc_eq(s, sl, "none")) q->sort = SORT_NONE;
            else return -1;
        } else {
            return -1;  /* unknown key: refuse rather than silently ignore a typo */
        }
        if (seen & bit) return -1;
        seen |= bit;
    }
    if (c.err || c.p != c.end) return -1;
    if (q->has_text) {
        /* lower-case a private copy of the pattern */
        u8 *t = (u8 *)nc_malloc(q->text_len ? q->text_len : 1);
        if (!t) return -1;
        for (u32 i = 0; i < q->text_len; i++) t[i] = lower(q->text[i]);
        q->text = t;
    }
    return 0;
}

static int parse_product(const u8 *p, u32 len, product *r) {
    cbor c;
    cb_init(&c, p, len);
    u32 n = cb_map(&c);
    u32 seen = 0;
    for (u32 i = 0; i < n && !c.err; i++) {
        if (c.p >= c.end) return -1;
        if ((*c.p >> 5) != CB_TEXT) {  /* non-text key: skip the pair */
            cb_skip(&c, 1);
            cb_skip(&c, 1);
            continue;
        }
        u32 kl;
        const u8 *k = cb_string(&c, CB_TEXT, &kl);
        if (c.err) return -1;
        u32 bit = 0;
        if (nc_eq(k, kl, "name")) { bit = 1; r->name = cb_string(&c, CB_TEXT, &r->name_len); }
        else if (nc_eq(k, kl, "description")) { bit = 2; r->desc = cb_string(&c, CB_TEXT, &r->desc_len); }
        else if (nc_eq(k, kl, "category")) { bit = 4; r->cat = cb_string(&c, CB_TEXT, &r->cat_len); }
        else if (nc_eq(k, kl, "price")) { bit = 8; r->price = cb_uint(&c); }
        else cb_skip(&c, 1);
        if (seen & bit) return -1;
        seen |= bit;
    }
    if (c.err || c.p != c.end || seen != 15) return -1;
    return 0;
}

static int matches(const query *q, const product *r) {
    if (r->price < q->min_price || r->price > q->max_price) return 0;
    if (q->has_cat && !(r->cat_len == q->cat_len && nc_memeq(r->cat, q->cat, q->cat_len))) return 0;
    if (q->has_text && !contains(r->name, r->name_len, q->text, q->text_len) &&
        !contains(r->desc, r->desc_len, q->text, q->text_len)) return 0;
    return 1;
}

typedef struct { u32 index; u32 name_len; u64 price; const u8 *name; } hit;

/* a strictly before b? (the merge sort is stable, so ties keep index order) */
static int before(const hit *a, const hit *b, int sort) {
    if (sort == SORT_PRICE) return a->price < b->price;
    if (sort == SORT_PRICE_DESC) return a->price > b->price;
    u32 n = a->name_len < b->name_len ? a->name_len : b->name_len;
    for (u32 i = 0; i < n; i++)
        if (a->name[i] != b->name[i]) return a->name[i] < b->name[i];
    return a->name_len < b->name_len;
}

static void merge_sort(hit *h, hit *tmp, u32 n, int sort) {
    for (u32 width = 1; width < n; width *= 2) {
        for (u32 lo = 0; lo < n; lo += 2 * width) {
            u32 mid = lo + width < n ? lo + width : n;
            u32 hi = lo + 2 * width < n ? lo + 2 * width : n;
            u32 i = lo, j = mid, k = lo;
            while (i < mid && j < hi) tmp[k++] = before(&h[j], &h[i], sort) ? h[j++] : h[i++];
            while (i < mid) tmp[k++] = h[i++];
            while (j < hi) tmp[k++] = h[j++];
        }
        for (u32 i = 0; i < n; i++) h[i] = tmp[i];
    }
}

NC_EXPORT("nc_run") u64 nc_run(const u8 *p, u32 len) {
    nc_input in;
    if (nc_parse_input(&in, p, len)) return NC_ERROR(4);
    query q;
    if (parse_args(in.args, in.args_len, &q)) return NC_ERROR(1);
    hit *hits = (hit *)nc_malloc((usize)in.n * sizeof(hit) + 1);
    if (!hits) return NC_ERROR(3);
    u32 k = 0;
    const u8 *cur = in.rec;
    for (u32 i = 0; i < in.n; i++) {
        u32 rl;
        const u8 *r = nc_next_record(&cur, &rl);
        product prod;
        if (parse_product(r, rl, &prod)) return NC_ERROR(2);
        if (matches(&q, &prod)) {
            hits[k].index = i;
            hits[k].price = prod.price;
            hits[k].name = prod.name;
            hits[k].name_len = prod.name_len;
            k++;
        }
    }
    if (q.sort != SORT_NONE && k > 1) {
        hit *tmp = (hit *)nc_malloc((usize)k * sizeof(hit));
        if (!tmp) return NC_ERROR(3);
        merge_sort(hits, tmp, k, q.sort);
    }
    u32 m = q.limit < (u64)k ? (u32)q.limit : k;
    u8 *out = (u8 *)nc_malloc(8 + 4 * (usize)m);
    if (!out) return NC_ERROR(3);
    nc_put_u32(out, m);
    for (u32 i = 0; i < m; i++) nc_put_u32(out + 4 + 4 * i, hits[i].index);
    nc_put_u32(out + 4 + 4 * m, 0);
    return nc_result(out, 8 + 4 * m);
}
