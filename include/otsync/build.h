/*
 * build.h - what the build tells the programs (version, install paths), with fallbacks so a
 * file compiled outside the Makefile (a fuzz target, an editor's checker) still builds. The
 * Makefile always defines them (Makefile.am, AM_CPPFLAGS).
 */
#ifndef OTSYNC_BUILD_H
#define OTSYNC_BUILD_H

#ifndef OTSYNC_VERSION
#define OTSYNC_VERSION "0.0.0"
#endif
#ifndef OTSYNC_SYSCONFDIR
#define OTSYNC_SYSCONFDIR "/etc/otsync"
#endif
#ifndef OTSYNC_LIBEXECDIR
#define OTSYNC_LIBEXECDIR "/usr/bin"
#endif

#endif
