/*
 * watermark_file.c - file watermark backend: <dir>/<name> (WATERMARK_DIR/watermark.json by
 * default), replaced atomically (temp file + fsync + rename + directory fsync) under an
 * exclusive flock on <dir>/.watermark.lock, so concurrent writers in several processes see a
 * consistent compare-and-write. The lock is one per directory, shared by every name in it:
 * writes are rare (one per run), so serialising them costs nothing. The etag is the SHA-256 of
 * the file's bytes. Each replaced version is kept as <name>.<ms since epoch> (hard link), the
 * newest DM_WATERMARK_FILE_HISTORY of them retained.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "adapters/watermark/watermark_impl.h"
#include "core/buf.h"
#include "core/log.h"
#include "core/timeutil.h"

#define FILE_MAX 65536

struct file_store {
    char *dir;
    char *name; /* "watermark.json" */
};

static enum dm_err mkdir_p(const char *path, struct dm_error *err)
{
    char tmp[4096];
    if (dm_strlcpy(tmp, path, sizeof(tmp)) != DM_OK)
        return dm_error_set(err, DM_ERR_INVALID, "watermark: directory path too long");
    for (char *p = tmp + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(tmp, 0755) != 0 && errno != EEXIST)
            return dm_error_set(err, DM_ERR_IO, "watermark: mkdir %s: %s", tmp, strerror(errno));
        *p = '/';
    }
    if (mkdir(tmp, 0755) != 0 && errno != EEXIST)
        return dm_error_set(err, DM_ERR_IO, "watermark: mkdir %s: %s", tmp, strerror(errno));
    return DM_OK;
}

/* Read the whole file into *out (malloc'd). DM_ERR_NOT_FOUND when absent. */
static enum dm_err read_file(const char *path, char **out, size_t *len, struct dm_error *err)
{
    *out = NULL;
    *len = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ENOENT)
            return dm_error_set(err, DM_ERR_NOT_FOUND, "watermark: none written yet");
        return dm_error_set(err, DM_ERR_IO, "watermark: open %s: %s", path, strerror(errno));
    }
    struct dm_buf b;
    dm_buf_init(&b, FILE_MAX);
    enum dm_err e = DM_OK;
    char chunk[4096];
    for (;;) {
        ssize_t n = read(fd, chunk, sizeof(chunk));
        if (n < 0) {
            if (errno == EINTR)
                continue;
            e = dm_error_set(err, DM_ERR_IO, "watermark: read %s: %s", path, strerror(errno));
            break;
        }
        if (n == 0)
            break;
        if (dm_buf_append(&b, chunk, (size_t)n) != DM_OK) {
            e = dm_error_set(err, DM_ERR_TOO_LARGE, "watermark: %s is too large", path);
            break;
        }
    }
    close(fd);
    if (e != DM_OK) {
        dm_buf_free(&b);
        return e;
    }
    *len = b.len;
    *out = b.data ? dm_buf_steal(&b) : dm_xstrdup("");
    return DM_OK;
}

static void etag_of(const char *data, size_t len, char *etag, size_t size)
{
    char hex[DM_SHA256_HEX_LEN];
    dm_sha256_hex(data, len, hex);
    if (etag && size)
        snprintf(etag, size, "%s", hex);
}

static enum dm_err file_read(struct dm_watermark_store *s, struct dm_watermark *wm, char *etag,
                             size_t etag_size, struct dm_error *err)
{
    struct file_store *fs = s->impl;
    char path[4400];
    snprintf(path, sizeof(path), "%s/%s", fs->dir, fs->name);
    char *data = NULL;
    size_t len = 0;
    enum dm_err e = read_file(path, &data, &len, err);
    if (e != DM_OK)
        return e;
    e = dm_watermark_from_json(data, len, wm, err);
    if (e == DM_OK)
        etag_of(data, len, etag, etag_size);
    else
        e = dm_error_set(err, DM_ERR_INVALID, "watermark: %s is unreadable: %s", path,
                         err ? err->message : "invalid JSON");
    free(data);
    return e;
}

static enum dm_err fsync_dir(const char *dir, struct dm_error *err)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return dm_error_set(err, DM_ERR_IO, "watermark: open %s: %s", dir, strerror(errno));
    int rc = fsync(fd);
    int saved = errno;
    close(fd);
    if (rc != 0)
        return dm_error_set(err, DM_ERR_IO, "watermark: fsync %s: %s", dir, strerror(saved));
    return DM_OK;
}

static int cmp_str_desc(const void *a, const void *b)
{
    const char *x = *(const char *const *)a, *y = *(const char *const *)b;
    size_t lx = strlen(x), ly = strlen(y);
    if (lx != ly) /* numeric suffixes: longer is larger */
        return lx < ly ? 1 : -1;
    return -strcmp(x, y);
}

/* Keep the newest DM_WATERMARK_FILE_HISTORY <name>.<digits> files. */
static void prune_history(const char *dir, const char *name)
{
    size_t prefix = strlen(name);
    DIR *d = opendir(dir);
    if (d == NULL)
        return;
    char *names[256];
    int n = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL && n < 256) {
        const char *p = de->d_name;
        if (strncmp(p, name, prefix) != 0 || p[prefix] != '.')
            continue;
        p += prefix + 1;
        if (*p == '\0' || strspn(p, "0123456789") != strlen(p))
            continue;
        names[n++] = dm_xstrdup(de->d_name);
    }
    closedir(d);
    qsort(names, (size_t)n, sizeof(names[0]), cmp_str_desc);
    for (int i = 0; i < n; i++) {
        if (i >= DM_WATERMARK_FILE_HISTORY) {
            char path[4400];
            snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
            if (unlink(path) != 0)
                dm_warn(NULL, "watermark: could not prune %s", path);
        }
        free(names[i]);
    }
}

static enum dm_err file_write(struct dm_watermark_store *s, const struct dm_watermark *wm,
                              const char *expected_etag, struct dm_error *err)
{
    struct file_store *fs = s->impl;
    enum dm_err e = mkdir_p(fs->dir, err);
    if (e != DM_OK)
        return e;
    char path[4400], lockpath[4200], tmppath[4500], histpath[4500];
    snprintf(path, sizeof(path), "%s/%s", fs->dir, fs->name);
    snprintf(lockpath, sizeof(lockpath), "%s/.watermark.lock", fs->dir);
    snprintf(tmppath, sizeof(tmppath), "%s/.%s.tmp.%ld", fs->dir, fs->name, (long)getpid());
    int lockfd = -1, fd = -1;
    char *cur = NULL, *json = NULL;
    bool tmp_created = false;

    lockfd = open(lockpath, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (lockfd < 0) {
        e = dm_error_set(err, DM_ERR_IO, "watermark: open %s: %s", lockpath, strerror(errno));
        goto out;
    }
    while (flock(lockfd, LOCK_EX) != 0) {
        if (errno != EINTR) {
            e = dm_error_set(err, DM_ERR_IO, "watermark: lock: %s", strerror(errno));
            goto out;
        }
    }
    /* Compare under the lock. */
    size_t cur_len = 0;
    e = read_file(path, &cur, &cur_len, err);
    if (e != DM_OK && e != DM_ERR_NOT_FOUND)
        goto out;
    bool exists = e == DM_OK;
    if (!exists && expected_etag != NULL) {
        e = dm_error_set(err, DM_ERR_CONFLICT, "watermark: expected version is gone");
        goto out;
    }
    if (exists) {
        char cur_etag[DM_SHA256_HEX_LEN];
        etag_of(cur, cur_len, cur_etag, sizeof(cur_etag));
        if (expected_etag == NULL || strcmp(expected_etag, cur_etag) != 0) {
            e = dm_error_set(err, DM_ERR_CONFLICT, "watermark: changed since it was read");
            goto out;
        }
        struct dm_watermark stored;
        if (dm_watermark_from_json(cur, cur_len, &stored, NULL) == DM_OK &&
            dm_watermark_older(wm, &stored)) {
            e = dm_error_set(err, DM_ERR_CONFLICT, "watermark: refusing to move backwards");
            goto out;
        }
    }
    json = dm_watermark_to_json(wm);
    size_t len = strlen(json);
    fd = open(tmppath, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
        e = dm_error_set(err, DM_ERR_IO, "watermark: create %s: %s", tmppath, strerror(errno));
        goto out;
    }
    tmp_created = true;
    size_t off = 0;
    while (off < len) {
        ssize_t n = write(fd, json + off, len - off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            e = dm_error_set(err, DM_ERR_IO, "watermark: write: %s", strerror(errno));
            goto out;
        }
        off += (size_t)n;
    }
    if (fsync(fd) != 0) {
        e = dm_error_set(err, DM_ERR_IO, "watermark: fsync: %s", strerror(errno));
        goto out;
    }
    close(fd);
    fd = -1;
    if (exists) {
        /* Keep the version being replaced. */
        snprintf(histpath, sizeof(histpath), "%s/%s.%lld", fs->dir, fs->name,
                 (long long)dm_now_ms());
        if (link(path, histpath) != 0 && errno != EEXIST)
            dm_warn(NULL, "watermark: could not keep history %s: %s", histpath, strerror(errno));
    }
    if (rename(tmppath, path) != 0) {
        e = dm_error_set(err, DM_ERR_IO, "watermark: rename: %s", strerror(errno));
        goto out;
    }
    tmp_created = false;
    e = fsync_dir(fs->dir, err);
    if (e != DM_OK)
        goto out;
    prune_history(fs->dir, fs->name);
out:
    if (fd >= 0)
        close(fd);
    if (tmp_created)
        unlink(tmppath);
    if (lockfd >= 0)
        close(lockfd); /* releases the flock */
    free(cur);
    free(json);
    return e;
}

static void file_free(struct dm_watermark_store *s)
{
    struct file_store *fs = s->impl;
    free(fs->dir);
    free(fs->name);
    free(fs);
    free(s);
}

static const struct dm_watermark_ops file_ops = {
    .name = "file",
    .read = file_read,
    .write = file_write,
    .free = file_free,
};

enum dm_err dm_watermark_file_open(const char *dir, const char *name,
                                   struct dm_watermark_store **out, struct dm_error *err)
{
    *out = NULL;
    enum dm_err e = dm_watermark_name_check(&name, err);
    if (e != DM_OK)
        return e;
    if (dir == NULL || dir[0] == '\0')
        return dm_error_set(err, DM_ERR_INVALID, "watermark: WATERMARK_DIR is empty");
    if (strlen(dir) > 4000)
        return dm_error_set(err, DM_ERR_INVALID, "watermark: WATERMARK_DIR is too long");
    struct file_store *fs = dm_xcalloc(1, sizeof(*fs));
    fs->dir = dm_xstrdup(dir);
    fs->name = dm_xstrdup(name);
    struct dm_watermark_store *s = dm_xcalloc(1, sizeof(*s));
    s->ops = &file_ops;
    s->impl = fs;
    *out = s;
    return DM_OK;
}
