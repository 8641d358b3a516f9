"""Audacity's modal windows on X11, read through libxcb with ctypes (no extra dependency).

GTK marks every modal window it maps `_NET_WM_STATE_MODAL`, its native message boxes (the
save prompt) included, with or without a window manager. libxcb rather than Xlib: Xlib's
error handler is process-wide (the panel's Tk installs its own) and exits on a BadWindow,
which a window closing between two requests would cause; xcb returns errors per request.
An Audacity on Wayland itself (not XWayland) has no X11 windows: then X11 cannot tell.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import functools
import sys

MAP_STATE_VIEWABLE = 2  # xcb_map_state_t: mapped, and so are its ancestors
ANY_PROPERTY_TYPE = 0
PROPERTY_WORDS = 256  # of a title, a class or a state list: plenty
AUDACITY_CLASS = b"Audacity"  # WM_CLASS's class part of each Audacity window


class _Cookie(ctypes.Structure):
    _fields_ = [("sequence", ctypes.c_uint)]


class _ScreenIterator(ctypes.Structure):
    # xcb_screen_iterator_t; an xcb_screen_t starts with its root window's id
    _fields_ = [("data", ctypes.POINTER(ctypes.c_uint32)), ("rem", ctypes.c_int), ("index", ctypes.c_int)]


def modal_windows(display: str | None) -> list[str] | None:
    """Titles of Audacity's mapped modal windows on this X display; None where X11 cannot
    tell (not Linux, no display, no libxcb, no Audacity window on that display)."""
    if not display or not sys.platform.startswith("linux"):
        return None
    xcb = _library()
    if xcb is None:
        return None
    screen = ctypes.c_int(0)
    connection = xcb.xcb_connect(display.encode(), ctypes.byref(screen))
    try:
        if xcb.xcb_connection_has_error(connection):
            return None
        return _Session(xcb, connection).modal_audacity_windows(screen.value)
    finally:
        xcb.xcb_disconnect(connection)


def display_of(pid: int) -> str | None:
    """The X display a process was started on, from its environment (same user, Linux)."""
    with contextlib.suppress(OSError):
        with open(f"/proc/{pid}/environ", "rb") as f:
            for entry in f.read().split(b"\0"):
                if entry.startswith(b"DISPLAY="):
                    return entry[len(b"DISPLAY=") :].decode(errors="replace") or None
    return None


class _Session:
    """Requests on one connection; every reply may be None (the window went away)."""

    def __init__(self, xcb, connection) -> None:
        self.xcb, self.connection = xcb, connection

    def modal_audacity_windows(self, screen: int) -> list[str] | None:
        root = self._root(screen)
        names = ("_NET_CLIENT_LIST", "_NET_WM_STATE", "_NET_WM_STATE_MODAL", "_NET_WM_NAME", "WM_CLASS", "WM_NAME")
        atoms = dict(zip(names, self._atoms(names)))
        # A window manager lists its clients; without one (Xvfb) they are the root's children.
        windows = self._words(root, atoms["_NET_CLIENT_LIST"]) or self._children(root)
        audacity = [w for w in windows if _class_of(self._property(w, atoms["WM_CLASS"])) == AUDACITY_CLASS]
        if not audacity:
            return None  # Audacity is on another display, or this one hides its windows
        titles = []
        for window in audacity:
            if atoms["_NET_WM_STATE_MODAL"] in self._words(window, atoms["_NET_WM_STATE"]) and self._viewable(window):
                title = self._property(window, atoms["_NET_WM_NAME"]) or self._property(window, atoms["WM_NAME"])
                titles.append(title.decode("utf-8", "replace"))
        return titles

    def _root(self, screen: int) -> int:
        iterator = self.xcb.xcb_setup_roots_iterator(self.xcb.xcb_get_setup(self.connection))
        for _ in range(screen):
            self.xcb.xcb_screen_next(ctypes.byref(iterator))
        return iterator.data[0]

    def _atoms(self, names) -> list[int]:
        cookies = [self.xcb.xcb_intern_atom(self.connection, 0, len(name), name.encode()) for name in names]
        atoms = []
        for cookie in cookies:  # all requests first, then the replies: one round trip
            reply = self.xcb.xcb_intern_atom_reply(self.connection, cookie, None)
            atoms.append(_word(ctypes.string_at(reply, 12), 8) if reply else 0)  # the reply's atom field
            _free(reply)
        return atoms

    def _children(self, window: int) -> list[int]:
        reply = self.xcb.xcb_query_tree_reply(self.connection, self.xcb.xcb_query_tree(self.connection, window), None)
        if not reply:
            return []
        try:
            count = self.xcb.xcb_query_tree_children_length(reply)
            return list(self.xcb.xcb_query_tree_children(reply)[:count])
        finally:
            _free(reply)

    def _viewable(self, window: int) -> bool:
        cookie = self.xcb.xcb_get_window_attributes(self.connection, window)
        reply = self.xcb.xcb_get_window_attributes_reply(self.connection, cookie, None)
        if not reply:
            return False
        try:
            return ctypes.string_at(reply, 32)[26] == MAP_STATE_VIEWABLE  # the reply's map_state byte
        finally:
            _free(reply)

    def _property(self, window: int, atom: int) -> bytes:
        if not atom:
            return b""
        cookie = self.xcb.xcb_get_property(self.connection, 0, window, atom, ANY_PROPERTY_TYPE, 0, PROPERTY_WORDS)
        reply = self.xcb.xcb_get_property_reply(self.connection, cookie, None)
        if not reply:
            return b""
        try:
            return ctypes.string_at(
                self.xcb.xcb_get_property_value(reply), self.xcb.xcb_get_property_value_length(reply)
            )
        finally:
            _free(reply)

    def _words(self, window: int, atom: int) -> list[int]:
        """A property of 32-bit items (window ids, atoms)."""
        value = self._property(window, atom)
        return [_word(value, i) for i in range(0, len(value) - 3, 4)]


def _word(data: bytes, offset: int) -> int:
    return int.from_bytes(data[offset : offset + 4], sys.byteorder)


def _class_of(wm_class: bytes) -> bytes:
    """WM_CLASS is "instance\\0class\\0"."""
    parts = wm_class.split(b"\0")
    return parts[1] if len(parts) > 1 else b""


def _free(pointer) -> None:
    if pointer:
        _libc().free(pointer)  # xcb replies are malloc'ed and the caller's to free


@functools.cache
def _libc():
    libc = ctypes.CDLL(None)
    libc.free.argtypes = [ctypes.c_void_p]
    return libc


@functools.cache
def _library():
    """libxcb with the signatures used here, or None where it is missing."""
    path = ctypes.util.find_library("xcb")
    if path is None:
        return None
    try:
        xcb = ctypes.CDLL(path)
    except OSError:
        return None
    pointer, u8, u16, u32 = ctypes.c_void_p, ctypes.c_uint8, ctypes.c_uint16, ctypes.c_uint32
    signatures = {
        "xcb_connect": ([ctypes.c_char_p, ctypes.POINTER(ctypes.c_int)], pointer),
        "xcb_connection_has_error": ([pointer], ctypes.c_int),
        "xcb_disconnect": ([pointer], None),
        "xcb_get_setup": ([pointer], pointer),
        "xcb_setup_roots_iterator": ([pointer], _ScreenIterator),
        "xcb_screen_next": ([ctypes.POINTER(_ScreenIterator)], None),
        "xcb_intern_atom": ([pointer, u8, u16, ctypes.c_char_p], _Cookie),
        "xcb_intern_atom_reply": ([pointer, _Cookie, pointer], pointer),
        "xcb_query_tree": ([pointer, u32], _Cookie),
        "xcb_query_tree_reply": ([pointer, _Cookie, pointer], pointer),
        "xcb_query_tree_children": ([pointer], ctypes.POINTER(u32)),
        "xcb_query_tree_children_length": ([pointer], ctypes.c_int),
        "xcb_get_window_attributes": ([pointer, u32], _Cookie),
        "xcb_get_window_attributes_reply": ([pointer, _Cookie, pointer], pointer),
        "xcb_get_property": ([pointer, u8, u32, u32, u32, u32, u32], _Cookie),
        "xcb_get_property_reply": ([pointer, _Cookie, pointer], pointer),
        "xcb_get_property_value": ([pointer], pointer),
        "xcb_get_property_value_length": ([pointer], ctypes.c_int),
    }
    for name, (arguments, result) in signatures.items():
        function = getattr(xcb, name)
        function.argtypes, function.restype = arguments, result
    return xcb
