/**
 * Waits for `work` until `deadline` (epoch ms) and says whether it settled (fulfilled or
 * rejected) by then. Past the deadline it is no longer waited for, not cancelled: the caller
 * moves on, and its timer does not keep the process alive.
 */
export async function settlesBy(work: Promise<unknown>, deadline: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<false>((resolve) => {
    timer = setTimeout(() => resolve(false), Math.max(0, deadline - Date.now()));
    timer.unref();
  });
  try {
    return await Promise.race([
      work.then(
        () => true,
        () => true,
      ),
      late,
    ]);
  } finally {
    clearTimeout(timer);
  }
}
