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

static inline u8 lower(u8 ch) { return (u8)(ch + (((u32)ch - 'A' < 26u) << 5)); }

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

/* Which product field a map key names: 1 name, 2 description, 4 category, 8 price, 0 other.
 * Compared as little-endian words: this runs for every key of every record. */
static u32 field_of(const u8 *k, u32 kl) {
    switch (kl) {
    case 4: return nc_get_u32(k) == 0x656d616eu ? 1 : 0;                              /* name */
    case 5: return (nc_get_u32(k) == 0x63697270u && k[4] == 'e') ? 8 : 0;               /* price */
    case 8: return (nc_get_u32(k) == 0x65746163u && nc_get_u32(k + 4) == 0x79726f67u) ? 4 : 0; /* category */
    case 11:                                                                              /* description */
        return (nc_get_u32(k) == 0x63736564u && nc_get_u32(k + 4) == 0x74706972u && k[8] == 'i' &&
                k[9] == 'o' && k[10] == 'n') ? 2 : 0;
    default: return 0;
    }
}

/* Fast path for the usual shape of a record (a map of < 24 pairs with short
 * text keys, text values of < 64 KiB, prices below 2^32, other values small
 * scalars or short strings). It keeps its cursor in locals, which the
 * generic reader cannot (its state is addressed). It accepts only what
 * parse_product_generic accepts and returns -2 for anything else, which then
 * goes to the generic reader: that one decides. */
static int parse_product_fast(const u8 *p, u32 len, product *r) {
    const u8 *end = p + len;
    if (len == 0) return -2;
    u32 ib = *p++;
    if (ib - 0xA0u >= 24u) return -2;
    u32 n = ib - 0xA0u, seen = 0;
    for (u32 i = 0; i < n; i++) {
        if (p >= end) return -2;
        u32 kl = (u32)*p - 0x60u;
        if (kl >= 24u || (u32)(end - p) <= kl + 1) return -2;  /* key plus at least one value byte */
        const u8 *k = p + 1;
        p = k + kl;
        u32 bit = field_of(k, kl);
        u32 vb = *p, avail = (u32)(end - p);
        u32 major = vb >> 5, ai = vb & 31u;
        if (bit == 8) {
            u64 v;
            if (vb < 24u) { v = vb; p += 1; }
            else if (vb == 0x18u && avail >= 2 && p[1] >= 24u) { v = p[1]; p += 2; }
            else if (vb == 0x19u && avail >= 3) { v = ((u32)p[1] << 8) | p[2]; if (v <= 0xFFu) return -2; p += 3; }
            else if (vb == 0x1Au && avail >= 5) {
                v = ((u32)p[1] << 24) | ((u32)p[2] << 16) | ((u32)p[3] << 8) | p[4];
                if (v <= 0xFFFFu) return -2;
                p += 5;
            } else return -2;
            r->price = v;
        } else if (major == CB_TEXT || (bit == 0 && major == CB_BSTR)) {
            u32 vl, head;
            if (ai < 24u) { vl = ai; head = 1; }
            else if (ai == 24u && avail >= 2 && p[1] >= 24u) { vl = p[1]; head = 2; }
            else if (ai == 25u && avail >= 3) { vl = ((u32)p[1] << 8) | p[2]; if (vl <= 0xFFu) return -2; head = 3; }
            else return -2;
            if (avail - head < vl) return -2;
            const u8 *v = p + head;
            if (bit == 1) { r->name = v; r->name_len = vl; }
            else if (bit == 2) { r->desc = v; r->desc_len = vl; }
            else if (bit == 4) { r->cat = v; r->cat_len = vl; }
            p = v + vl;
        } else if (bit == 0 && major == CB_UINT && ai < 24u) {
            p += 1;
        } else {
            return -2;
        }
        if (seen & bit) return -2;
        seen |= bit;
    }
    if (p != end || seen != 15) return -2;
    return 0;
}

static int parse_product_generic(const u8 *p, u32 len, product *r) {
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
        const u8 *k = cb_text(&c, &kl);
        if (c.err) return -1;
        u32 bit = field_of(k, kl);
        switch (bit) {
        case 1: r->name = cb_text(&c, &r->name_len); break;
        case 2: r->desc = cb_text(&c, &r->desc_len); break;
        case 4: r->cat = cb_text(&c, &r->cat_len); break;
        case 8: r->price = cb_uint(&c); break;
        default: cb_skip_item(&c); break;
        }
        if (seen & bit) return -1;
        seen |= bit;
    }
    if (c.err || c.p != c.end || seen != 15) return -1;
    return 0;
}

static int parse_product(const u8 *p, u32 len, product *r) {
    if (parse_product_fast(p, len, r) == 0) return 0;
    return parse_product_generic(p, len, r);
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
