/*
 * objpath.c -- object path validation and hashed layout (objpath.h).
 */
#include "coffer/objpath.h"

#include <stdio.h>
#include <string.h>

#include "coffer/err.h"

static bool is_safe(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
           c == '_' || c == '-';
}

int cf_objpath_validate(const char *p, size_t len, char *err)
{
    size_t seg_start = 0, depth = 0;

    if (len == 0) {
        cf_err_set(err, "empty path");
        return CF_EBADPATH;
    }
    if (len > CF_PATH_MAX) {
        cf_err_set(err, "path longer than %d bytes", CF_PATH_MAX);
        return CF_EBADPATH;
    }
    for (size_t i = 0; i <= len; i++) {
        unsigned char c = i < len ? (unsigned char)p[i] : '/';
        if (c == '/') {
            size_t seg = i - seg_start;
            if (seg == 0) {
                cf_err_set(err, "empty path segment at byte %zu", i);
                return CF_EBADPATH;
            }
            if (seg > CF_PATH_SEGMENT_MAX) {
                cf_err_set(err, "path segment longer than %d bytes", CF_PATH_SEGMENT_MAX);
                return CF_EBADPATH;
            }
            if (p[seg_start] == '.') {
                cf_err_set(err, "path segment starts with '.'");
                return CF_EBADPATH;
            }
            if (++depth > CF_PATH_DEPTH_MAX) {
                cf_err_set(err, "more than %d path segments", CF_PATH_DEPTH_MAX);
                return CF_EBADPATH;
            }
            seg_start = i + 1;
        } else if (!is_safe(c)) {
            cf_err_set(err, "byte 0x%02x at %zu is outside [A-Za-z0-9._-/]", c, i);
            return CF_EBADPATH;
        }
    }
    return 0;
}

uint32_t cf_objpath_bucket(const char *p, size_t len)
{
    /* FNV-1a 64, folded to 16 bits: part of the on-disk format. */
    uint64_t h = 0xcbf29ce484222325ull;

    for (size_t i = 0; i < len; i++) {
        h ^= (unsigned char)p[i];
        h *= 0x100000001b3ull;
    }
    h ^= h >> 32;
    h ^= h >> 16;
    return (uint32_t)(h & 0xffff);
}

int cf_objpath_to_name(const char *p, size_t len, char *out, size_t cap)
{
    if (cf_objpath_validate(p, len, NULL) < 0)
        return CF_EBADPATH;
    if (len + 1 > cap)
        return CF_ETOOLARGE;
    for (size_t i = 0; i < len; i++)
        out[i] = p[i] == '/' ? '+' : p[i];
    out[len] = '\0';
    return (int)len;
}

int cf_objpath_relpath(const char *p, size_t len, char *out, size_t cap)
{
    uint32_t b;
    int n;

    if (cf_objpath_validate(p, len, NULL) < 0)
        return CF_EBADPATH;
    b = cf_objpath_bucket(p, len);
    n = snprintf(out, cap, "objects/%02x/%02x/", (unsigned)(b >> 8), (unsigned)(b & 0xff));
    if (n < 0 || (size_t)n >= cap)
        return CF_ETOOLARGE;
    int m = cf_objpath_to_name(p, len, out + n, cap - (size_t)n);
    if (m < 0)
        return m;
    return n + m;
}

int cf_objpath_from_name(const char *name, size_t len, char *out, size_t cap)
{
    if (len + 1 > cap)
        return CF_ETOOLARGE;
    for (size_t i = 0; i < len; i++) {
        if (name[i] == '/')
            return CF_EBADPATH;
        out[i] = name[i] == '+' ? '/' : name[i];
    }
    out[len] = '\0';
    if (cf_objpath_validate(out, len, NULL) < 0)
        return CF_EBADPATH;
    return (int)len;
}
