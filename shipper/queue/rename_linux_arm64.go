package queue

const sysRenameat2 = 276
