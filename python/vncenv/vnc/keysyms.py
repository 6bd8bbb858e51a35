"""X11 keysyms for the keys an agent needs, and :func:`keysym` to look names up.

RFB KeyEvents carry X11 keysyms (``<X11/keysymdef.h>``).  Printable Latin-1
characters are their own code point (``"a"`` is 0x61, ``"A"`` is 0x41);
function and modifier keys live in 0xFF00..0xFFFF.

Constants follow X11's names with an ``XK_`` prefix (``XK_Return``,
``XK_Control_L``, ``XK_a``).  :func:`keysym` takes a key name: a single
character (case-sensitive: ``"a"`` and ``"A"`` differ, as Shift does), an
X11 name, or a common alias (``"ctrl"``, ``"enter"``, ``"esc"``,
``"pageup"``...); names longer than one character are case-insensitive.

Every printable ASCII character also has its X11 name (``"slash"`` is 0x2f,
``"backslash"`` 0x5c, ``"comma"``, ``"period"``, ``"minus"``, ``"equal"``,
``"bracketleft"``, ``"semicolon"``, ``"apostrophe"``, ``"grave"``...), which
is the character's own code point.  (OpenAI Universe's table mapped
``"slash"`` to backslash; this one is tested character by character.)
:func:`key_name` is the inverse of :func:`keysym`.

Note: to type ``"A"`` most servers want Shift held as well; the keysym alone
is what the server's keymap turns into a key code.
"""

from __future__ import annotations

from ..error import UsageError

__all__ = ["keysym", "key_name", "KEYSYMS"]

# fmt: off

# Printable ASCII (punctuation by its X11 name; each is the character's code point)
XK_space = 0x0020
XK_exclam = 0x0021
XK_quotedbl = 0x0022
XK_numbersign = 0x0023
XK_dollar = 0x0024
XK_percent = 0x0025
XK_ampersand = 0x0026
XK_apostrophe = 0x0027
XK_parenleft = 0x0028
XK_parenright = 0x0029
XK_asterisk = 0x002a
XK_plus = 0x002b
XK_comma = 0x002c
XK_minus = 0x002d
XK_period = 0x002e
XK_slash = 0x002f
XK_colon = 0x003a
XK_semicolon = 0x003b
XK_less = 0x003c
XK_equal = 0x003d
XK_greater = 0x003e
XK_question = 0x003f
XK_at = 0x0040
XK_bracketleft = 0x005b
XK_backslash = 0x005c
XK_bracketright = 0x005d
XK_asciicircum = 0x005e
XK_underscore = 0x005f
XK_grave = 0x0060
XK_braceleft = 0x007b
XK_bar = 0x007c
XK_braceright = 0x007d
XK_asciitilde = 0x007e
XK_0 = 0x0030
XK_1 = 0x0031
XK_2 = 0x0032
XK_3 = 0x0033
XK_4 = 0x0034
XK_5 = 0x0035
XK_6 = 0x0036
XK_7 = 0x0037
XK_8 = 0x0038
XK_9 = 0x0039
XK_A = 0x0041
XK_B = 0x0042
XK_C = 0x0043
XK_D = 0x0044
XK_E = 0x0045
XK_F = 0x0046
XK_G = 0x0047
XK_H = 0x0048
XK_I = 0x0049
XK_J = 0x004a
XK_K = 0x004b
XK_L = 0x004c
XK_M = 0x004d
XK_N = 0x004e
XK_O = 0x004f
XK_P = 0x0050
XK_Q = 0x0051
XK_R = 0x0052
XK_S = 0x0053
XK_T = 0x0054
XK_U = 0x0055
XK_V = 0x0056
XK_W = 0x0057
XK_X = 0x0058
XK_Y = 0x0059
XK_Z = 0x005a
XK_a = 0x0061
XK_b = 0x0062
XK_c = 0x0063
XK_d = 0x0064
XK_e = 0x0065
XK_f = 0x0066
XK_g = 0x0067
XK_h = 0x0068
XK_i = 0x0069
XK_j = 0x006a
XK_k = 0x006b
XK_l = 0x006c
XK_m = 0x006d
XK_n = 0x006e
XK_o = 0x006f
XK_p = 0x0070
XK_q = 0x0071
XK_r = 0x0072
XK_s = 0x0073
XK_t = 0x0074
XK_u = 0x0075
XK_v = 0x0076
XK_w = 0x0077
XK_x = 0x0078
XK_y = 0x0079
XK_z = 0x007a

# Editing and motion
XK_BackSpace = 0xff08
XK_Tab = 0xff09
XK_Return = 0xff0d
XK_Pause = 0xff13
XK_Escape = 0xff1b
XK_Delete = 0xffff
XK_Home = 0xff50
XK_Left = 0xff51
XK_Up = 0xff52
XK_Right = 0xff53
XK_Down = 0xff54
XK_Page_Up = 0xff55
XK_Page_Down = 0xff56
XK_End = 0xff57
XK_Insert = 0xff63
XK_Menu = 0xff67
XK_Clear = 0xff0b
XK_Print = 0xff61
XK_Scroll_Lock = 0xff14
XK_Sys_Req = 0xff15
XK_Break = 0xff6b
XK_Num_Lock = 0xff7f

# Keypad
XK_KP_Space = 0xff80
XK_KP_Tab = 0xff89
XK_KP_Enter = 0xff8d
XK_KP_Home = 0xff95
XK_KP_Left = 0xff96
XK_KP_Up = 0xff97
XK_KP_Right = 0xff98
XK_KP_Down = 0xff99
XK_KP_Page_Up = 0xff9a
XK_KP_Page_Down = 0xff9b
XK_KP_End = 0xff9c
XK_KP_Begin = 0xff9d
XK_KP_Insert = 0xff9e
XK_KP_Delete = 0xff9f
XK_KP_Multiply = 0xffaa
XK_KP_Add = 0xffab
XK_KP_Separator = 0xffac
XK_KP_Subtract = 0xffad
XK_KP_Decimal = 0xffae
XK_KP_Divide = 0xffaf
XK_KP_0 = 0xffb0
XK_KP_1 = 0xffb1
XK_KP_2 = 0xffb2
XK_KP_3 = 0xffb3
XK_KP_4 = 0xffb4
XK_KP_5 = 0xffb5
XK_KP_6 = 0xffb6
XK_KP_7 = 0xffb7
XK_KP_8 = 0xffb8
XK_KP_9 = 0xffb9
XK_KP_Equal = 0xffbd

# Function keys
XK_F1 = 0xffbe
XK_F2 = 0xffbf
XK_F3 = 0xffc0
XK_F4 = 0xffc1
XK_F5 = 0xffc2
XK_F6 = 0xffc3
XK_F7 = 0xffc4
XK_F8 = 0xffc5
XK_F9 = 0xffc6
XK_F10 = 0xffc7
XK_F11 = 0xffc8
XK_F12 = 0xffc9

# Modifiers
XK_Shift_L = 0xffe1
XK_Shift_R = 0xffe2
XK_Control_L = 0xffe3
XK_Control_R = 0xffe4
XK_Caps_Lock = 0xffe5
XK_Shift_Lock = 0xffe6
XK_Meta_L = 0xffe7
XK_Meta_R = 0xffe8
XK_Alt_L = 0xffe9
XK_Alt_R = 0xffea
XK_Super_L = 0xffeb
XK_Super_R = 0xffec
XK_Hyper_L = 0xffed
XK_Hyper_R = 0xffee
# fmt: on

KEYSYMS: dict[str, int] = {
    "space": XK_space,
    "exclam": XK_exclam,
    "quotedbl": XK_quotedbl,
    "numbersign": XK_numbersign,
    "dollar": XK_dollar,
    "percent": XK_percent,
    "ampersand": XK_ampersand,
    "apostrophe": XK_apostrophe,
    "parenleft": XK_parenleft,
    "parenright": XK_parenright,
    "asterisk": XK_asterisk,
    "plus": XK_plus,
    "comma": XK_comma,
    "minus": XK_minus,
    "period": XK_period,
    "slash": XK_slash,
    "colon": XK_colon,
    "semicolon": XK_semicolon,
    "less": XK_less,
    "equal": XK_equal,
    "greater": XK_greater,
    "question": XK_question,
    "at": XK_at,
    "bracketleft": XK_bracketleft,
    "backslash": XK_backslash,
    "bracketright": XK_bracketright,
    "asciicircum": XK_asciicircum,
    "underscore": XK_underscore,
    "grave": XK_grave,
    "braceleft": XK_braceleft,
    "bar": XK_bar,
    "braceright": XK_braceright,
    "asciitilde": XK_asciitilde,
    "0": XK_0,
    "1": XK_1,
    "2": XK_2,
    "3": XK_3,
    "4": XK_4,
    "5": XK_5,
    "6": XK_6,
    "7": XK_7,
    "8": XK_8,
    "9": XK_9,
    "A": XK_A,
    "B": XK_B,
    "C": XK_C,
    "D": XK_D,
    "E": XK_E,
    "F": XK_F,
    "G": XK_G,
    "H": XK_H,
    "I": XK_I,
    "J": XK_J,
    "K": XK_K,
    "L": XK_L,
    "M": XK_M,
    "N": XK_N,
    "O": XK_O,
    "P": XK_P,
    "Q": XK_Q,
    "R": XK_R,
    "S": XK_S,
    "T": XK_T,
    "U": XK_U,
    "V": XK_V,
    "W": XK_W,
    "X": XK_X,
    "Y": XK_Y,
    "Z": XK_Z,
    "a": XK_a,
    "b": XK_b,
    "c": XK_c,
    "d": XK_d,
    "e": XK_e,
    "f": XK_f,
    "g": XK_g,
    "h": XK_h,
    "i": XK_i,
    "j": XK_j,
    "k": XK_k,
    "l": XK_l,
    "m": XK_m,
    "n": XK_n,
    "o": XK_o,
    "p": XK_p,
    "q": XK_q,
    "r": XK_r,
    "s": XK_s,
    "t": XK_t,
    "u": XK_u,
    "v": XK_v,
    "w": XK_w,
    "x": XK_x,
    "y": XK_y,
    "z": XK_z,
    "BackSpace": XK_BackSpace,
    "Tab": XK_Tab,
    "Return": XK_Return,
    "Pause": XK_Pause,
    "Escape": XK_Escape,
    "Delete": XK_Delete,
    "Home": XK_Home,
    "Left": XK_Left,
    "Up": XK_Up,
    "Right": XK_Right,
    "Down": XK_Down,
    "Page_Up": XK_Page_Up,
    "Page_Down": XK_Page_Down,
    "End": XK_End,
    "Insert": XK_Insert,
    "Menu": XK_Menu,
    "Clear": XK_Clear,
    "Print": XK_Print,
    "Scroll_Lock": XK_Scroll_Lock,
    "Sys_Req": XK_Sys_Req,
    "Break": XK_Break,
    "Num_Lock": XK_Num_Lock,
    "KP_Space": XK_KP_Space,
    "KP_Tab": XK_KP_Tab,
    "KP_Enter": XK_KP_Enter,
    "KP_Home": XK_KP_Home,
    "KP_Left": XK_KP_Left,
    "KP_Up": XK_KP_Up,
    "KP_Right": XK_KP_Right,
    "KP_Down": XK_KP_Down,
    "KP_Page_Up": XK_KP_Page_Up,
    "KP_Page_Down": XK_KP_Page_Down,
    "KP_End": XK_KP_End,
    "KP_Begin": XK_KP_Begin,
    "KP_Insert": XK_KP_Insert,
    "KP_Delete": XK_KP_Delete,
    "KP_Multiply": XK_KP_Multiply,
    "KP_Add": XK_KP_Add,
    "KP_Separator": XK_KP_Separator,
    "KP_Subtract": XK_KP_Subtract,
    "KP_Decimal": XK_KP_Decimal,
    "KP_Divide": XK_KP_Divide,
    "KP_0": XK_KP_0,
    "KP_1": XK_KP_1,
    "KP_2": XK_KP_2,
    "KP_3": XK_KP_3,
    "KP_4": XK_KP_4,
    "KP_5": XK_KP_5,
    "KP_6": XK_KP_6,
    "KP_7": XK_KP_7,
    "KP_8": XK_KP_8,
    "KP_9": XK_KP_9,
    "KP_Equal": XK_KP_Equal,
    "F1": XK_F1,
    "F2": XK_F2,
    "F3": XK_F3,
    "F4": XK_F4,
    "F5": XK_F5,
    "F6": XK_F6,
    "F7": XK_F7,
    "F8": XK_F8,
    "F9": XK_F9,
    "F10": XK_F10,
    "F11": XK_F11,
    "F12": XK_F12,
    "Shift_L": XK_Shift_L,
    "Shift_R": XK_Shift_R,
    "Control_L": XK_Control_L,
    "Control_R": XK_Control_R,
    "Caps_Lock": XK_Caps_Lock,
    "Shift_Lock": XK_Shift_Lock,
    "Meta_L": XK_Meta_L,
    "Meta_R": XK_Meta_R,
    "Alt_L": XK_Alt_L,
    "Alt_R": XK_Alt_R,
    "Super_L": XK_Super_L,
    "Super_R": XK_Super_R,
    "Hyper_L": XK_Hyper_L,
    "Hyper_R": XK_Hyper_R,
}
"""Every ``XK_`` constant above, by its X11 name (without ``XK_``)."""

__all__ += [f"XK_{name}" for name in KEYSYMS]

_ALIASES: dict[str, int] = {
    "enter": XK_Return,
    "esc": XK_Escape,
    "backspace": XK_BackSpace,
    "bs": XK_BackSpace,
    "del": XK_Delete,
    "ins": XK_Insert,
    "pageup": XK_Page_Up,
    "pgup": XK_Page_Up,
    "prior": XK_Page_Up,
    "pagedown": XK_Page_Down,
    "pgdn": XK_Page_Down,
    "next": XK_Page_Down,
    "shift": XK_Shift_L,
    "lshift": XK_Shift_L,
    "rshift": XK_Shift_R,
    "ctrl": XK_Control_L,
    "control": XK_Control_L,
    "ctrl_l": XK_Control_L,
    "ctrl_r": XK_Control_R,
    "lctrl": XK_Control_L,
    "rctrl": XK_Control_R,
    "alt": XK_Alt_L,
    "lalt": XK_Alt_L,
    "ralt": XK_Alt_R,
    "meta": XK_Meta_L,
    "super": XK_Super_L,
    "win": XK_Super_L,
    "cmd": XK_Super_L,
    "capslock": XK_Caps_Lock,
    "numlock": XK_Num_Lock,
    "scrolllock": XK_Scroll_Lock,
    "printscreen": XK_Print,
    "prtsc": XK_Print,
    "quoteright": XK_apostrophe,  # X11's deprecated names
    "quoteleft": XK_grave,
}

# Lower-case lookup for names of two characters or more.
_BY_LOWER_NAME: dict[str, int] = {
    **{name.lower(): value for name, value in KEYSYMS.items() if len(name) > 1},
    **_ALIASES,
}


def keysym(name: str) -> int:
    """The X11 keysym for a key name.

    * one character: its Latin-1 code point, for printable characters
      (``"a"`` -> 0x61, ``"A"`` -> 0x41, ``" "`` -> 0x20, ``"é"`` -> 0xe9);
    * an X11 name, case-insensitive: ``"Return"``, ``"space"``, ``"Left"``,
      ``"F5"``, ``"Shift_L"``, ``"Page_Up"``, ``"slash"``, ``"KP_Enter"``;
    * an alias, case-insensitive, ``-`` or ``_`` alike: ``"enter"``,
      ``"esc"``, ``"backspace"``, ``"del"``, ``"pageup"``, ``"pgdn"``,
      ``"ctrl"``, ``"shift"``, ``"alt"``, ``"meta"``, ``"super"``, ``"win"``.

    :param name: the key name.
    :return: the keysym.
    :raises UsageError: an unknown name.
    """
    if not isinstance(name, str):
        raise UsageError(f"keysym() takes a key name (str), not {type(name).__name__}")
    if len(name) == 1:
        code = ord(name)
        if 0x20 <= code <= 0x7E or 0xA0 <= code <= 0xFF:
            return code
        raise UsageError(f"no keysym for the character {name!r} (only printable Latin-1 characters map directly)")
    value = _BY_LOWER_NAME.get(name.lower().replace("-", "_"))
    if value is None:
        raise UsageError(f"unknown key name {name!r}")
    return value


# keysym -> name: the first name in KEYSYMS wins (KEYSYMS has one name per keysym).
_NAME_BY_KEYSYM: dict[int, str] = {}
for _name, _value in KEYSYMS.items():
    _NAME_BY_KEYSYM.setdefault(_value, _name)
del _name, _value


def key_name(value: int) -> str:
    """The name of a keysym, the inverse of :func:`keysym`.

    ``keysym(key_name(k)) == k`` for every keysym it accepts: the X11 name
    from :data:`KEYSYMS` (``0xff51`` -> ``"Left"``, ``0x2f`` -> ``"slash"``,
    ``0x61`` -> ``"a"``), else the character itself for printable Latin-1
    (``0xe9`` -> ``"\u00e9"``).

    :param value: the keysym.
    :return: its name.
    :raises UsageError: not an int, or a keysym with no name here.
    """
    if isinstance(value, bool) or not hasattr(value, "__index__"):
        raise UsageError(f"key_name() takes a keysym (int), not {type(value).__name__}")
    code = value.__index__()
    name = _NAME_BY_KEYSYM.get(code)
    if name is not None:
        return name
    if 0xA0 <= code <= 0xFF:
        return chr(code)
    raise UsageError(f"no name for the keysym {code:#x}")
