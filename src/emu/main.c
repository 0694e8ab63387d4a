/*
 * main.c - otsync-emu: a local Table Store, OSS and MaxCompute (service API and tunnel) for
 * tests and demos. Serves each on its own port of the listen address, prints one JSON line
 * naming the endpoints when ready, and runs until SIGINT or SIGTERM, saving its state under
 * --data (if given) on the way out.
 *
 * Owns: options, credentials, start-up and shut-down. Leaves to others: HTTP and faults
 * (server.c), the services (ots.c, oss.c, odps.c).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include "otsync/build.h"
#include "otsync/log.h"
#include "emu.h"

/* The demo's credentials when none are given: documented in otsync-emu(1). */
#define DEFAULT_KEY_ID "otsync-emu-id"
#define DEFAULT_KEY_SECRET "otsync-emu-secret"

static void
usage(FILE *out)
{
    fprintf(out,
            "usage: otsync-emu [options]\n"
            "Emulates Table Store, OSS and MaxCompute on loopback for tests and demos.\n"
            "\n"
            "  -l, --listen ADDR:PORT     the first port; the services take PORT, PORT+1, ...\n"
            "                             (default 127.0.0.1:0: free ports)\n"
            "  -d, --data DIR             keep state in DIR across restarts (default: memory)\n"
            "      --access-key-id ID     the accepted key id ($OTSYNC_EMU_ACCESS_KEY_ID)\n"
            "      --access-key-secret S  its secret ($OTSYNC_EMU_ACCESS_KEY_SECRET)\n"
            "      --sts-token T          require this STS token ($OTSYNC_EMU_STS_TOKEN)\n"
            "      --seed N               seed of the fault shares (default 1)\n"
            "      --clock START[,xSPEED] simulated time for stored data, as otsyncd's --clock\n"
            "  -h, --help                 this help\n"
            "  -V, --version              the version\n");
}

static int
parse_listen(const char *s, struct sockaddr_in *ret)
{
    char host[64];
    const char *colon = strrchr(s, ':');
    char *end;
    long port;

    if (!colon || (size_t)(colon - s) >= sizeof(host))
        return -1;
    memcpy(host, s, (size_t)(colon - s));
    host[colon - s] = '\0';
    port = strtol(colon + 1, &end, 10);
    if (*end || end == colon + 1 || port < 0 || port > 65532)
        return -1;
    memset(ret, 0, sizeof(*ret));
    ret->sin_family = AF_INET;
    ret->sin_port = htons((unsigned short)port);
    return inet_pton(AF_INET, host, &ret->sin_addr) == 1 ? 0 : -1;
}

static const char *
env_or(const char *given, const char *name, const char *fallback)
{
    const char *v;

    if (given)
        return given;
    if ((v = getenv(name)) && *v)
        return v;
    return fallback;
}

int
main(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"listen", required_argument, NULL, 'l'},
        {"data", required_argument, NULL, 'd'},
        {"access-key-id", required_argument, NULL, 'i'},
        {"access-key-secret", required_argument, NULL, 's'},
        {"sts-token", required_argument, NULL, 't'},
        {"seed", required_argument, NULL, 'S'},
        {"clock", required_argument, NULL, 'C'},
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'},
        {NULL, 0, NULL, 0},
    };
    const char *listen = "127.0.0.1:0", *key_id = NULL, *secret = NULL, *token = NULL;
    struct emu_service *api = NULL, *tunnel = NULL;
    struct sockaddr_in addr;
    sigset_t stop_set;
    struct emu emu;
    unsigned base;
    char host[INET_ADDRSTRLEN];
    size_t i;
    int c, rc = 0;

    memset(&emu, 0, sizeof(emu));
    emu.rng = 1;
    dclock_real(&emu.clock);
    /* answers of several MB are made and freed per request: keep that memory in the heap
     * instead of mapping and faulting in fresh pages every time */
    mallopt(M_MMAP_THRESHOLD, 64 << 20);
    mallopt(M_TRIM_THRESHOLD, 256 << 20);
    log_init("otsync-emu");
    while ((c = getopt_long(argc, argv, "l:d:hV", longopts, NULL)) != -1) {
        switch (c) {
        case 'l':
            listen = optarg;
            break;
        case 'd':
            emu.data_dir = optarg;
            break;
        case 'i':
            key_id = optarg;
            break;
        case 's':
            secret = optarg;
            break;
        case 't':
            token = optarg;
            break;
        case 'S':
            emu.rng = strtoull(optarg, NULL, 10) | 1;
            break;
        case 'C': {
            struct otsync_err cerr;

            if (dclock_parse(optarg, &emu.clock, &cerr) < 0) {
                fprintf(stderr, "otsync-emu: %s\n", cerr.msg);
                return 2;
            }
            break;
        }
        case 'h':
            usage(stdout);
            return 0;
        case 'V':
            printf("otsync-emu %s\n", OTSYNC_VERSION);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "otsync-emu: unexpected argument '%s'\n", argv[optind]);
        return 2;
    }
    if (parse_listen(listen, &addr) < 0) {
        fprintf(stderr, "otsync-emu: --listen %s: expected an IPv4 address and a port, such as "
                "127.0.0.1:0\n", listen);
        return 2;
    }
    emu.key_id = env_or(key_id, "OTSYNC_EMU_ACCESS_KEY_ID", DEFAULT_KEY_ID);
    emu.key_secret = env_or(secret, "OTSYNC_EMU_ACCESS_KEY_SECRET", DEFAULT_KEY_SECRET);
    emu.sts_token = env_or(token, "OTSYNC_EMU_STS_TOKEN", NULL);
    if (emu.data_dir && mkdir(emu.data_dir, 0700) < 0 && errno != EEXIST) {
        fprintf(stderr, "otsync-emu: --data %s: %s\n", emu.data_dir, strerror(errno));
        return 1;
    }
    /* every thread libmicrohttpd starts inherits this mask: the signals wait for sigwait */
    sigemptyset(&stop_set);
    sigaddset(&stop_set, SIGINT);
    sigaddset(&stop_set, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &stop_set, NULL);
    signal(SIGPIPE, SIG_IGN);
    pthread_mutex_init(&emu.lock, NULL);
    emu.services[emu.service_count++] = emu_ots_new(&emu);
    emu.services[emu.service_count++] = emu_oss_new(&emu);
    if (emu_odps_new(&emu, &api, &tunnel) == 0) {
        emu.services[emu.service_count++] = api;
        emu.services[emu.service_count++] = tunnel;
    } else {
        emu.services[emu.service_count++] = NULL;
    }
    for (i = 0; i < emu.service_count; i++)
        if (!emu.services[i]) {
            fprintf(stderr, "otsync-emu: out of memory\n");
            return 1;
        }
    for (i = 0; emu.data_dir && i < emu.service_count; i++)
        if (emu.services[i]->load && emu.services[i]->load(emu.services[i]->state,
                                                           emu.data_dir) < 0) {
            fprintf(stderr, "otsync-emu: --data %s: the saved state of %s cannot be read\n",
                    emu.data_dir, emu.services[i]->name);
            return 1;
        }
    base = ntohs(addr.sin_port);
    for (i = 0; i < emu.service_count; i++) {
        addr.sin_port = htons((unsigned short)(base ? base + i : 0));
        if (emu_service_start(emu.services[i], &addr) < 0) {
            fprintf(stderr, "otsync-emu: cannot listen on %s for %s: %s\n", listen,
                    emu.services[i]->name, strerror(errno));
            rc = 1;
            goto out;
        }
    }
    inet_ntop(AF_INET, &addr.sin_addr, host, sizeof(host));
    printf("{\"ots\":\"http://%s:%u\",\"oss\":\"http://%s:%u\",\"odps\":\"http://%s:%u/api\","
           "\"tunnel\":\"http://%s:%u\"}\n", host, emu.services[0]->port, host,
           emu.services[1]->port, host, emu.services[2]->port, host, emu.services[3]->port);
    fflush(stdout);
    log_info("ready: key id %s%s", emu.key_id, emu.sts_token ? ", STS token required" : "");
    sigwait(&stop_set, &c);
    log_info("stopping on signal %d", c);
out:
    for (i = 0; i < emu.service_count; i++)
        emu_service_stop(emu.services[i]);
    for (i = 0; rc == 0 && emu.data_dir && i < emu.service_count; i++)
        if (emu.services[i]->save && emu.services[i]->save(emu.services[i]->state,
                                                           emu.data_dir) < 0)
            rc = 1;
    for (i = 0; i < emu.service_count; i++)
        emu_service_free(emu.services[i]);
    free(emu.faults);
    pthread_mutex_destroy(&emu.lock);
    return rc;
}
