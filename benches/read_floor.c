/* The floor of `canaryc detect` on a tree: list it as `find` does, and read the files detection
 * reads, and nothing else (issue 15). `find -type f` reads no file contents, so it is the floor
 * of the listing only; this program adds the one open, read and close of each file a detector
 * wants, so `canaryc detect / read_floor` is what the analysis and the bookkeeping cost.
 *
 * The same rules as src/detect/walk.rs: hidden entries skipped but `.env` files, the same
 * skipped directory names, a directory holding `pyvenv.cfg` or `.canaryc` left out (not the
 * root), symlinks not followed, the same file names read (`is_candidate`), each opened
 * relative to its directory's descriptor and read in one 16 KiB read when it fits, as
 * detection does. It does not apply `.gitignore` rules (the generated trees' rules match
 * nothing) and it runs on one thread, as `find` does.
 *
 * Usage: read_floor DIR        prints "SEEN READ BYTES" (files listed, files read, bytes read)
 * Build: cc -O2 -o read_floor benches/read_floor.c   (benches/detect-tree.sh does)
 */
#define _GNU_SOURCE
#include <ctype.h>
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char *skip_dirs[] = {
    ".git", ".hg", ".svn", "node_modules", "vendor", "bower_components", "__pycache__",
    ".tox", ".nox", ".venv", "venv", "virtualenv", ".virtualenv", "env", ".eggs",
    "site-packages", ".mypy_cache", ".pytest_cache", "target", ".terraform", NULL,
};

static const char *exts[] = {
    "py", "yaml", "yml", "tf", "service", "cfg", "conf", "ini", "toml", "sh", "j2", "jinja2",
    "tmpl", "tpl", "ini_tmpl", "vhost", NULL,
};

static long seen, nread;
static long long bytes;
static char buf[1 << 20];

static int starts(const char *s, const char *p) { return strncmp(s, p, strlen(p)) == 0; }
static int ends(const char *s, const char *p) {
    size_t n = strlen(s), m = strlen(p);
    return n >= m && strcmp(s + n - m, p) == 0;
}

/* src/detect/walk.rs `is_candidate`. */
static int candidate(const char *name) {
    char lower[256];
    size_t n = strlen(name);
    if (n >= sizeof lower) return 0;
    for (size_t i = 0; i <= n; i++) lower[i] = (char)tolower((unsigned char)name[i]);
    const char *dot = strrchr(lower, '.');
    if (dot)
        for (const char **e = exts; *e; e++)
            if (strcmp(dot + 1, *e) == 0) return 1;
    return starts(lower, "dockerfile") || ends(lower, ".dockerfile") ||
           strcmp(lower, "procfile") == 0 || starts(lower, "procfile.") ||
           strcmp(lower, "pipfile") == 0 || strcmp(lower, ".env") == 0 ||
           strstr(lower, "entrypoint") || starts(lower, "run-") ||
           (starts(lower, "requirements") && ends(lower, ".txt")) ||
           strcmp(lower, "constraints.txt") == 0;
}

static void read_file(int dir, const char *name) {
    int fd = openat(dir, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) return;
    nread++;
    /* One read when the file fits 16 KiB (a short read is the end), as walk.rs reads. */
    ssize_t n = read(fd, buf, 16 * 1024);
    if (n == 16 * 1024) {
        ssize_t more;
        while ((more = read(fd, buf + n, sizeof buf - (size_t)n)) > 0) n += more;
    }
    if (n > 0) bytes += n;
    close(fd);
}

static void walk(int dir, int depth) {
    DIR *d = fdopendir(dir);
    if (!d) return;
    /* The listing first: a marker anywhere in it leaves the whole directory out. */
    size_t cap = 64, len = 0;
    struct ent { char *name; unsigned char type; } *ents = malloc(cap * sizeof *ents);
    struct dirent *e;
    int marked = 0;
    while ((e = readdir(d))) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
        if (depth > 0 && e->d_type == DT_REG &&
            (strcmp(e->d_name, "pyvenv.cfg") == 0 || strcmp(e->d_name, ".canaryc") == 0))
            marked = 1;
        if (len == cap) ents = realloc(ents, (cap *= 2) * sizeof *ents);
        ents[len].name = strdup(e->d_name);
        ents[len].type = e->d_type;
        len++;
    }
    for (size_t i = 0; i < len; i++) {
        const char *name = ents[i].name;
        unsigned char type = ents[i].type;
        if (marked) break;
        if (type == DT_UNKNOWN) {
            struct stat st;
            if (fstatat(dir, name, &st, AT_SYMLINK_NOFOLLOW) != 0) continue;
            type = S_ISDIR(st.st_mode) ? DT_DIR : S_ISREG(st.st_mode) ? DT_REG : DT_LNK;
        }
        if (type == DT_DIR) {
            int skip = name[0] == '.';
            for (const char **s = skip_dirs; *s && !skip; s++) skip = strcmp(name, *s) == 0;
            if (skip) continue;
            int sub = openat(dir, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
            if (sub >= 0) walk(sub, depth + 1);
        } else if (type == DT_REG) {
            if (name[0] == '.' && strcmp(name, ".env") != 0) continue;
            seen++;
            if (candidate(name)) read_file(dir, name);
        }
    }
    for (size_t i = 0; i < len; i++) free(ents[i].name);
    free(ents);
    closedir(d);
}

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: read_floor DIR\n");
        return 2;
    }
    int root = open(argv[1], O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (root < 0) {
        perror(argv[1]);
        return 1;
    }
    walk(root, 0);
    printf("%ld %ld %lld\n", seen, nread, bytes);
    return 0;
}
