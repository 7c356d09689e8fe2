# Task and TaskQueue for MicroPython's asyncio, in Python, keyed on the simulated ticks.
#
# asyncio.core prefers the built-in `_asyncio`, whose queue stamps tasks with the host's clock;
# under the simulator the device clock is virtual (or drifts), so time.py registers this module
# as `_asyncio` before asyncio is imported. Same interface as the built-in: a run queue ordered
# by `ph_key` (a ticks_ms deadline), FIFO among equal deadlines, and allocation-free pushes.
import sys

import time

_core = None


def _c():
    global _core
    if _core is None:
        _core = sys.modules["asyncio.core"]
    return _core


class TaskQueue:
    # A singly linked list sorted by deadline: the run queue holds a handful of tasks.
    def __init__(self):
        self._head = None

    def peek(self):
        return self._head

    def push(self, v, key=None):
        v.data = None
        if key is None:
            key = time.ticks_ms()
        v.ph_key = key
        diff = time.ticks_diff
        prev = None
        node = self._head
        while node is not None and diff(node.ph_key, key) <= 0:
            prev = node
            node = node.link
        v.link = node
        if prev is None:
            self._head = v
        else:
            prev.link = v

    def pop(self):
        v = self._head
        self._head = v.link
        v.link = None
        return v

    def remove(self, v):
        prev = None
        node = self._head
        while node is not None:
            if node is v:
                if prev is None:
                    self._head = node.link
                else:
                    prev.link = node.link
                v.link = None
                return
            prev = node
            node = node.link


class Task:
    # A coroutine scheduled by asyncio; awaitable, cancellable.
    def __init__(self, coro, globals=None):
        self.coro = coro
        self.data = None  # the queue it waits on, a value to throw, or its result
        self.state = True  # True: running; a TaskQueue of waiters; a callback; None/False: done
        self.ph_key = 0
        self.link = None

    def __iter__(self):
        if not self.state:
            self.state = False  # finished: mark as awaited
        elif self.state is True:
            self.state = TaskQueue()  # first waiter
        elif type(self.state) is not TaskQueue:
            raise RuntimeError("can't wait")
        return self

    def __next__(self):
        if not self.state:
            raise self.data
        core = _c()
        self.state.push(core.cur_task)
        core.cur_task.data = self

    def done(self):
        return not self.state

    def cancel(self):
        if not self.state:
            return False
        core = _c()
        if self is core.cur_task:
            raise RuntimeError("can't cancel self")
        task = self
        while isinstance(task.data, Task):  # forward to the task it waits on
            task = task.data
        if hasattr(task.data, "remove"):
            task.data.remove(task)
            core._task_queue.push(task)
        elif time.ticks_diff(task.ph_key, time.ticks_ms()) > 0:
            core._task_queue.remove(task)
            core._task_queue.push(task)
        task.data = core.CancelledError
        return True
