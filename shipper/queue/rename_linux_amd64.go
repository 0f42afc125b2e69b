package queue

const sysRenameat2 = 316
